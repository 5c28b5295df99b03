// Summarize: a button that asks the cloud model for a three-sentence summary of the article.
(function () {
  "use strict";
  var button = document.createElement("button");
  button.textContent = "Summarize";
  button.style.cssText = "position:fixed;right:12px;top:12px;z-index:2147483647;padding:6px 10px";
  button.addEventListener("click", function () {
    var article = (document.querySelector("main, article, #content") || document.body).innerText.slice(0, 12000);
    button.disabled = true;
    window.aiplugs.call("summarize", {
      messages: [
        { role: "system", content: "Summarize the article in three sentences." },
        { role: "user", content: article }
      ]
    }).then(function (reply) {
      var text = reply.choices && reply.choices[0] ? reply.choices[0].message.content : JSON.stringify(reply);
      alert(text);
    }, function (err) { alert("Summarize failed: " + err); }).then(function () { button.disabled = false; });
  });
  document.body.appendChild(button);
})();
