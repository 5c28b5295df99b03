// aiplugs dashboard sign-in: `aiplugs dashboard` opens /login#token=…; the token leaves the address bar (and the
// history entry) before anything else happens, then the form posts it and the answer redirects with a cookie.
(() => {
  "use strict";
  const found = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!found) return;
  history.replaceState(null, "", location.pathname);
  const form = document.getElementById("login-form");
  const input = document.getElementById("token");
  if (!form || !input) return;
  input.value = decodeURIComponent(found[1]);
  form.submit();
})();
