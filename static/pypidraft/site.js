// Copy buttons. A static file with no inline script, so the strict CSP holds.
// Confirmation steps are server-rendered pages: publishing works without JavaScript.
"use strict";

function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text);
  }
  // Plain-http deployments have no Clipboard API: fall back to a hidden selection.
  return new Promise((resolve, reject) => {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    if (ok) { resolve(); } else { reject(new Error("copy failed")); }
  });
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const target = document.getElementById(button.dataset.copyTarget);
  if (!target) return;
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  copyText(target.textContent.trim()).then(
    () => { button.textContent = "Copied"; },
    () => {
      // Could not copy: select the text so the user can copy it by hand.
      const range = document.createRange();
      range.selectNodeContents(target);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      button.textContent = "Press Ctrl+C";
    },
  ).finally(() => { setTimeout(() => { button.textContent = label; }, 1500); });
});

// Close an open <details> menu when clicking elsewhere.
document.addEventListener("click", (event) => {
  document.querySelectorAll("details.menu[open]").forEach((menu) => {
    if (!menu.contains(event.target)) menu.removeAttribute("open");
  });
});
