// Reload when the verdict changes; send a chosen card photo for the QR seal.
(function () {
  var shown = document.body.getAttribute("data-version");
  setInterval(function () {
    fetch("/api/screen", { cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (s) { if (String(s.version) !== shown) { location.reload(); } })
      .catch(function () {});
  }, 1000);
  var input = document.getElementById("sealfile");
  input.addEventListener("change", function () {
    if (!input.files.length) { return; }
    fetch("/api/seal", { method: "POST", body: input.files[0] })
      .then(function () { location.reload(); });
  });
})();
