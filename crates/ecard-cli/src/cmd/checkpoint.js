// Reload when the verdict changes; send a chosen card photo for the QR seal (same origin: the
// session cookie and the Origin header go with it).
(function () {
  var shown = document.body.getAttribute("data-version");
  setInterval(function () {
    fetch("/api/screen", { cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (s) { if (String(s.version) !== shown) { location.reload(); } })
      .catch(function () {});
  }, 1000);
  var canform = document.getElementById("canform");
  if (canform) {
    canform.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var can = document.getElementById("can").value.trim();
      fetch("/api/can", { method: "POST", body: can })
        .then(function () { location.reload(); })
        .catch(function () {});
    });
  }
  var input = document.getElementById("sealfile");
  var say = function (text) {
    var p = document.getElementById("sealerror");
    if (!p) {
      p = document.createElement("p");
      p.id = "sealerror";
      p.className = "meta error";
      input.form.appendChild(p);
    }
    p.textContent = text;
  };
  input.addEventListener("change", function () {
    if (!input.files.length) { return; }
    var file = input.files[0];
    if (file.size > 10 * 1024 * 1024) {
      say("the card photo is over 10 MB; take it at a lower resolution");
      return;
    }
    fetch("/api/seal", { method: "POST", body: file })
      .then(function (r) {
        if (r.ok) { location.reload(); return; }
        return r.text().then(say);
      })
      .catch(function () { say("the card photo could not be sent"); });
  });
})();
