/* Quick amounts on the top-up page fill the amount field (no inline handler: CSP). */
(function () {
  "use strict";
  document.querySelectorAll("[data-amount]").forEach(function (button) {
    button.addEventListener("click", function () {
      document.getElementById("id_amount").value = button.getAttribute("data-amount");
    });
  });
})();
