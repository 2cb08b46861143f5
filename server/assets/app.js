// The Approval Center works without this file; it only shows the custom rule's
// fields when "custom" is the chosen match.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const matching = document.getElementById("matching");
  const custom = document.getElementById("custom-rule");
  if (!matching || !custom) return;
  const sync = () => { custom.hidden = matching.value !== "custom"; };
  matching.addEventListener("change", sync);
  sync();
});
