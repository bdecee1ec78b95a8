"""Where a file's bytes live: content-addressed keys in PyPI's layout."""


def file_key(blake2_256: str, filename: str) -> str:
    """/packages/<aa>/<bb>/<rest-of-blake2b>/<filename>: the same bytes under the same
    name always have the same key, so an object under a key never needs to change."""
    return f"{blake2_256[:2]}/{blake2_256[2:4]}/{blake2_256[4:]}/{filename}"
