// yubin web inbox: plain JS, no framework. Message data is only ever inserted with textContent.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  fetch("/api/v1/messages").then((r) => r.json()).then((data) => {
    const list = document.getElementById("list");
    for (const m of data.messages || []) {
      const row = document.createElement("div");
      row.textContent = m.Subject || "(no subject)";
      list.appendChild(row);
    }
  });
});
