// What wrangler's module rules give the worker: a .wasm import is a compiled
// WebAssembly.Module (CompiledWasm).
declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}
