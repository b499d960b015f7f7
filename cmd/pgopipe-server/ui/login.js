// login.js — the login page: says so when the last token was refused
// (the server sends the browser back with ?failed=1).
const failed = new URLSearchParams(window.location.search).has('failed');
const msg = document.getElementById('login-error');
if (failed && msg) msg.hidden = false;
