// The preload for `node --import tcp-keepalive/register`: the CommonJS one,
// so the process has one instance whichever way the app loads the library.
import './register.js'
