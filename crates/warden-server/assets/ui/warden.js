// Warden's dashboard works without this script; it only smooths two things.
// 1. A form's button is disabled once the form is sent, so a double click does not send
//    the same change twice.
// 2. A page marked with data-refresh-seconds (the approval queue) reloads itself on that
//    period, unless someone is typing into one of its fields.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  window.setTimeout(() => {
    for (const button of form.querySelectorAll("button")) {
      button.disabled = true;
    }
  }, 0);
});

const refreshing = document.querySelector("[data-refresh-seconds]");
if (refreshing) {
  const seconds = Number(refreshing.dataset.refreshSeconds);
  if (Number.isFinite(seconds) && seconds >= 5) {
    window.setInterval(() => {
      const focused = document.activeElement;
      const typing = focused && (focused.tagName === "INPUT" || focused.tagName === "TEXTAREA");
      if (!typing) {
        window.location.reload();
      }
    }, seconds * 1000);
  }
}
