// Preloaded into the MCP inspector CLI (node --import) so its requests carry a bearer key.
// Inspector 0.15 has no option for request headers; MCP clients that do (Claude Code's
// --header, mcp-remote, an mcp.json "headers" entry) send exactly this header.
const key = process.env.VMKIT_MCP_KEY;
const send = globalThis.fetch;
globalThis.fetch = (input, init = {}) => {
  const headers = new Headers(init.headers ?? {});
  headers.set("authorization", `Bearer ${key}`);
  return send(input, { ...init, headers });
};
