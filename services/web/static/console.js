// Progressive enhancement: a field marked data-check is checked by the console as it is typed,
// with the same rules the form applies on submit. Without JavaScript the form still works.
(function () {
  function attach(input) {
    var kind = input.getAttribute("data-check");
    var msg = document.getElementById(input.id + "-msg");
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var value = input.value.trim();
        if (!value) { msg.textContent = ""; input.setAttribute("aria-invalid", "false"); return; }
        // A check that depends on another field (a certificate number names its holder) sends it too.
        var holderId = input.getAttribute("data-holder");
        var holder = holderId ? document.getElementById(holderId) : null;
        var extra = holder ? "&holder=" + encodeURIComponent(holder.value.trim()) : "";
        fetch("/validate/" + kind + "?value=" + encodeURIComponent(value) + extra, {credentials: "same-origin"})
          .then(function (r) { return r.ok ? r.json() : {problem: null}; })
          .then(function (answer) {
            msg.textContent = answer.problem || "";
            input.setAttribute("aria-invalid", answer.problem ? "true" : "false");
          })
          .catch(function () { /* offline: the submit check still applies */ });
      }, 250);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-check]").forEach(attach);
  });
})();
