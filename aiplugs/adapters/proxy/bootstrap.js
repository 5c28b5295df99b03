// aiplugs page bootstrap: inlined (with the CSP nonce) before the page's own scripts, on every matched page, so
// it is ASCII, tiny and written compact on purpose. It does only what cannot wait for the network: capture fetch,
// WebSocket and the history functions before page code can replace or capture them, wrap pushState/replaceState
// so SPA navigations are seen from the first one, create the Trusted Types policy, then load the cacheable loader
// (loader.js, which the proxy serves at /__aiplugs__/loader.<hash>.js) with the same nonce. The loader takes the
// hand-off object from window.__aiplugs: {c: config, f: fetch, W: WebSocket, E: CustomEvent, t: TT policy,
// n: navigation callback, set by the loader}.
(function(C){
var w=window,d=document,h=w.history,t=w.trustedTypes,T=null,s,u,B;
if(w.__aiplugs||(w.aiplugs&&w.aiplugs.__loader)){return;}
B=w.__aiplugs={c:C,f:w.fetch&&w.fetch.bind(w),W:w.WebSocket,E:w.CustomEvent,n:null,t:null};
function wrap(o){return function(){var r=o.apply(this,arguments);if(B.n){B.n();}return r;};}
h.pushState=wrap(h.pushState);h.replaceState=wrap(h.replaceState);
if(C.tt&&t&&t.createPolicy){try{T=B.t=t.createPolicy("aiplugs",{createScriptURL:function(x){
if(x.indexOf(C.base+"/")){throw new TypeError(x);}return x;}});}catch(e){}}
s=d.createElement("script");s.nonce=C.nonce||"";u=C.base+"/loader./*HASH*/.js";s.src=T?T.createScriptURL(u):u;
s.async=false;(d.head||d.documentElement).appendChild(s);
})(/*CONFIG*/);
