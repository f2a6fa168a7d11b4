// Package cors is Herald's one cross-origin policy: which pages may call
// the hub from a browser (subscribe, publish, the jobs API, load
// herald.js), and the headers that tell the browser so.
package cors
