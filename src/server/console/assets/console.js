// Copy buttons: copies the button's data-copy value. The only script of
// the console (docs/decisions.md#d68); loaded from 'self' under the CSP.
document.addEventListener("click", function (e) {
  var b = e.target.closest("button[data-copy]");
  if (!b || !navigator.clipboard) return;
  navigator.clipboard.writeText(b.dataset.copy).then(function () {
    b.classList.add("copied");
    setTimeout(function () { b.classList.remove("copied"); }, 1200);
  });
});
