// A JSR registry on loopback that serves this checkout as `deno publish`
// would upload it: the files its dry run lists, with their sizes and
// checksums, under the package's name and version from deno.json. Point
// Deno at it with the JSR_URL environment variable.

const ROOT = new URL("../", import.meta.url);

/** The package as it would be published. */
export interface Package {
  /** `@scope/name`, from deno.json. */
  name: string;
  /** The version, from deno.json. */
  version: string;
  /** deno.json's `exports`, as a map (a lone string is the `.` entry). */
  exports: Record<string, string>;
  /** The published files by path (`/mod.ts`), with their bytes. */
  files: Map<string, Uint8Array<ArrayBuffer>>;
}

/** One request the registry answered. */
export interface RegistryRequest {
  method: string;
  /** The path and query, e.g. `/@sock/sock/meta.json`. */
  path: string;
  status: number;
  headers: Record<string, string>;
}

/** A running registry. */
export interface Registry {
  /** Its address with a trailing slash, the value for JSR_URL. */
  url: string;
  /** The package it serves. */
  package: Package;
  /** Every request so far, in order. */
  requests: RegistryRequest[];
  /** Stops it and waits until it has stopped. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * The paths of the files `deno publish` would upload, from its dry run
 * (which honours deno.json `publish.exclude`, `.gitignore` and `exports`).
 */
export async function publishedPaths(root: URL = ROOT): Promise<string[]> {
  const { code, stderr, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty", "--no-check"],
    cwd: root.pathname,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stderr) +
    new TextDecoder().decode(stdout);
  if (code !== 0) throw new Error(`deno publish --dry-run failed:\n${text}`);
  const prefix = new URL(".", root).href;
  const paths = [...text.matchAll(/^\s+(file:\/\/\S+) \(/gm)].map(([, url]) => {
    if (!url!.startsWith(prefix)) {
      throw new Error(`${url} is outside ${prefix}`);
    }
    return `/${decodeURIComponent(url!.slice(prefix.length))}`;
  });
  if (paths.length === 0) throw new Error(`no files in the dry run:\n${text}`);
  return paths;
}

/** Reads the package from the checkout: deno.json and the published files. */
export async function readPackage(root: URL = ROOT): Promise<Package> {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", root)),
  );
  const files = new Map<string, Uint8Array<ArrayBuffer>>();
  for (const path of await publishedPaths(root)) {
    files.set(path, await Deno.readFile(new URL(`.${path}`, root)));
  }
  return {
    name: config.name,
    version: config.version,
    exports: typeof config.exports === "string"
      ? { ".": config.exports }
      : config.exports,
    files,
  };
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** The registry's documents for `pkg`: its `meta.json` and `VERSION_meta.json`. */
export async function registryDocuments(
  pkg: Package,
): Promise<{ meta: unknown; versionMeta: unknown }> {
  const [scope, name] = pkg.name.slice(1).split("/");
  const manifest: Record<string, { size: number; checksum: string }> = {};
  for (const [path, bytes] of pkg.files) {
    manifest[path] = {
      size: bytes.length,
      checksum: `sha256-${await sha256(bytes)}`,
    };
  }
  return {
    meta: {
      scope,
      name,
      latest: pkg.version,
      versions: { [pkg.version]: {} },
    },
    versionMeta: { manifest, exports: pkg.exports },
  };
}

const TYPES: Record<string, string> = {
  ts: "text/typescript",
  js: "text/javascript",
  json: "application/json",
  md: "text/markdown",
};

function contentType(path: string): string {
  return TYPES[path.slice(path.lastIndexOf(".") + 1)] ?? "text/plain";
}

/** Serves the checkout's package on 127.0.0.1 at a port the OS chooses. */
export async function startRegistry(
  pkg?: Package,
): Promise<Registry> {
  const served = pkg ?? await readPackage();
  const { meta, versionMeta } = await registryDocuments(served);
  const base = `/${served.name}/`;
  const versionBase = `${base}${served.version}/`;
  const requests: RegistryRequest[] = [];

  function answer(path: string): Response {
    if (path === `${base}meta.json`) return Response.json(meta);
    if (path === `${base}${served.version}_meta.json`) {
      return Response.json(versionMeta);
    }
    if (path.startsWith(versionBase)) {
      const file = decodeURIComponent(path.slice(versionBase.length - 1));
      const bytes = served.files.get(file);
      if (bytes) {
        return new Response(bytes, {
          headers: { "content-type": contentType(file) },
        });
      }
    }
    return new Response("not found", { status: 404 });
  }

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, (request) => {
    const url = new URL(request.url);
    const response = request.method === "GET" || request.method === "HEAD"
      ? answer(url.pathname)
      : new Response("method not allowed", { status: 405 });
    requests.push({
      method: request.method,
      path: url.pathname + url.search,
      status: response.status,
      headers: Object.fromEntries(request.headers),
    });
    return response;
  });
  const close = async () => {
    await server.shutdown();
  };
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    package: served,
    requests,
    close,
    [Symbol.asyncDispose]: close,
  };
}
