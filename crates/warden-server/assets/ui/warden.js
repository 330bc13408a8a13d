// Warden's dashboard works without this script; it only smooths three things.
// 1. A form's button is disabled once the form is sent, so a double click does not send
//    the same change twice.
// 2. A page marked with data-live (the approval queue) listens to that stream and reloads
//    itself when it says the queue changed, unless someone is typing into one of its
//    fields (then it reloads once they leave the field).
// 3. A page marked with data-refresh-seconds reloads itself on that period all the same,
//    unless someone is typing, in case the stream is cut.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  window.setTimeout(() => {
    for (const button of form.querySelectorAll("button")) {
      button.disabled = true;
    }
  }, 0);
});

function typing() {
  const focused = document.activeElement;
  return focused && (focused.tagName === "INPUT" || focused.tagName === "TEXTAREA");
}

const live = document.querySelector("[data-live]");
if (live && window.EventSource) {
  let stale = false;
  const stream = new EventSource(live.dataset.live);
  stream.addEventListener("changed", () => {
    if (typing()) {
      stale = true;
    } else {
      window.location.reload();
    }
  });
  document.addEventListener("focusout", () => {
    window.setTimeout(() => {
      if (stale && !typing()) {
        window.location.reload();
      }
    }, 0);
  });
}

const refreshing = document.querySelector("[data-refresh-seconds]");
if (refreshing) {
  const seconds = Number(refreshing.dataset.refreshSeconds);
  if (Number.isFinite(seconds) && seconds >= 5) {
    window.setInterval(() => {
      if (!typing()) {
        window.location.reload();
      }
    }, seconds * 1000);
  }
}
