// Models from the Hugging Face Hub by repo id, in the browser and in Node. The revision is resolved to its
// commit through the API (https://huggingface.co/api/models/{repo}/revision/{rev}), the files the engine needs
// are picked from the listing, and each is streamed from /{repo}/resolve/{commit}/{file} into a ModelCache
// with progress. Files are keyed by commit, so an interrupted download resumes with an HTTP Range request
// against exactly the same bytes; the listing is cached too, so a second load works with no network at all.

import type { ByteSource } from './byteSource';
import type { ModelCache } from './modelCache';

export const HUB_ENDPOINT = 'https://huggingface.co';

export interface RepoFile {
  path: string;
  /** Bytes, when the listing says (it does with ?blobs=true). */
  size?: number;
}

export interface RepoInfo {
  repo: string;
  revision: string;
  /** The commit the revision pointed to. */
  sha: string;
  files: RepoFile[];
}

export interface DownloadProgress {
  file: string;
  fileLoaded: number;
  fileTotal: number | undefined;
  /** Over all files of this download (total undefined when a size is unknown). */
  loaded: number;
  total: number | undefined;
  /** The file came from the cache, nothing was transferred. */
  cached: boolean;
}

export interface HubOptions {
  cache: ModelCache;
  revision?: string;
  /** Base URL (tests point it at a local server). */
  endpoint?: string;
  /** Files to fetch; by default `selectModelFiles` picks them from the listing. */
  files?: string[];
  /** Which .gguf to take when the repository has several. */
  gguf?: string;
  /** Access token for gated or private repositories. */
  token?: string;
  fetch?: typeof fetch;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Automatic resumes of one file after a dropped connection (default 4). */
  maxRetries?: number;
  /** A response that delivers nothing for this long is dropped and resumed (default 30 s). */
  idleTimeoutMs?: number;
}

export interface HubModel {
  repo: string;
  sha: string;
  /** Repo-relative path → its bytes in the cache. */
  files: Map<string, ByteSource>;
}

export class HubError extends Error {
  override name = 'HubError';
  /** Retrying the same request may succeed (dropped connection, server error). */
  constructor(
    message: string,
    readonly retryable = false,
  ) {
    super(message);
  }
}

/** The server could not be reached and the cache cannot stand in. */
export class HubOfflineError extends HubError {
  override name = 'HubOfflineError';
}

const REPO_ID = /^[\w.-]+(\/[\w.-]+)?$/;
const encodePath = (path: string) => path.split('/').map(encodeURIComponent).join('/');

function checkRepo(repo: string): void {
  if (!REPO_ID.test(repo) || repo.split('/').some((p) => p === '.' || p === '..')) {
    throw new HubError(`"${repo}" is not a Hugging Face repository id (expected owner/name).`);
  }
}

const headers = (token?: string): Record<string, string> => (token ? { Authorization: `Bearer ${token}` } : {});

/** Resolves the revision and lists the repository's files. Network failures throw HubOfflineError. */
export async function fetchRepoInfo(repo: string, opts: Omit<HubOptions, 'cache'> = {}): Promise<RepoInfo> {
  checkRepo(repo);
  const revision = opts.revision ?? 'main';
  const endpoint = opts.endpoint ?? HUB_ENDPOINT;
  const url = `${endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`;
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(url, { headers: headers(opts.token), signal: opts.signal });
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    throw new HubOfflineError(`Cannot reach ${endpoint} (${(e as Error).message}).`, true);
  }
  if (res.status === 401 || res.status === 403) {
    throw new HubError(
      `${repo} is gated or private on ${endpoint} (HTTP ${res.status}): accept its licence on the ` +
        'website and give an access token.',
    );
  }
  if (res.status === 404) throw new HubError(`Repository ${repo} (revision ${revision}) was not found on ${endpoint}.`);
  if (!res.ok) throw new HubError(`Listing ${repo} failed: HTTP ${res.status} from ${endpoint}.`, res.status >= 500);
  const body = (await res.json()) as {
    sha?: unknown;
    siblings?: { rfilename?: unknown; size?: unknown; lfs?: { size?: unknown } }[];
  };
  if (typeof body.sha !== 'string' || !Array.isArray(body.siblings)) {
    throw new HubError(`${endpoint} answered the listing of ${repo} with something that is not a model listing.`);
  }
  const files = body.siblings
    .filter((s) => typeof s.rfilename === 'string')
    .map((s) => {
      const size = s.size ?? s.lfs?.size;
      return { path: s.rfilename as string, size: typeof size === 'number' ? size : undefined };
    });
  return { repo, revision, sha: body.sha, files };
}

/**
 * The files the engine loads: a chosen .gguf (or the only one); otherwise config.json, the tokenizer files and
 * model.safetensors or its index with the shards. Only top-level files: subfolders hold other variants (onnx/…).
 */
export function selectModelFiles(files: RepoFile[], opts: { gguf?: string } = {}): string[] {
  const names = new Set(files.map((f) => f.path).filter((p) => !p.includes('/')));
  if (opts.gguf) {
    if (!names.has(opts.gguf)) throw new HubError(`The repository has no file ${opts.gguf}.`);
    return [opts.gguf];
  }
  const shards = [...names].filter((n) => /^model-\d+-of-\d+\.safetensors$/.test(n)).sort();
  const weights = names.has('model.safetensors')
    ? ['model.safetensors']
    : names.has('model.safetensors.index.json') && shards.length
      ? ['model.safetensors.index.json', ...shards]
      : [];
  if (weights.length) {
    if (!names.has('config.json')) throw new HubError('The repository has safetensors weights but no config.json.');
    const extras = ['tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja'].filter((n) => names.has(n));
    return ['config.json', ...extras, ...weights];
  }
  const ggufs = [...names].filter((n) => n.endsWith('.gguf')).sort();
  if (ggufs.length === 1) return ggufs;
  if (ggufs.length > 1)
    throw new HubError(`The repository has ${ggufs.length} GGUF files; choose one: ${ggufs.join(', ')}.`);
  throw new HubError('The repository has neither model.safetensors (or a sharded index) nor a .gguf file.');
}

const manifestKey = (repo: string, revision: string) => `manifests/${repo}/${encodeURIComponent(revision)}.json`;
const fileKey = (repo: string, sha: string, path: string) => `files/${repo}/${sha}/${path}`;

/** Downloads (or finds in the cache) a model's files. With no network, a complete cache is enough. */
export async function downloadModel(repo: string, opts: HubOptions): Promise<HubModel> {
  const { cache } = opts;
  const revision = opts.revision ?? 'main';
  let info: RepoInfo;
  try {
    info = await fetchRepoInfo(repo, opts);
    await cache.writeText(manifestKey(repo, revision), JSON.stringify(info));
  } catch (e) {
    if (!(e instanceof HubOfflineError)) throw e;
    const saved = await cache.readText(manifestKey(repo, revision));
    if (!saved)
      throw new HubOfflineError(`${e.message} ${repo} (revision ${revision}) has never been downloaded here.`);
    info = JSON.parse(saved) as RepoInfo;
    const wanted = opts.files ?? selectModelFiles(info.files, opts);
    const missing = [];
    for (const f of wanted) if (!(await cache.open(fileKey(repo, info.sha, f)))) missing.push(f);
    if (missing.length)
      throw new HubOfflineError(`${e.message} The cached copy of ${repo} lacks ${missing.join(', ')}.`);
  }
  const wanted = opts.files ?? selectModelFiles(info.files, opts);
  const sizes = new Map(info.files.map((f) => [f.path, f.size]));
  for (const f of wanted) if (!sizes.has(f)) throw new HubError(`${repo} has no file ${f}.`);
  const total = wanted.every((f) => sizes.get(f) !== undefined)
    ? wanted.reduce((n, f) => n + (sizes.get(f) ?? 0), 0)
    : undefined;
  let before = 0;
  const files = new Map<string, ByteSource>();
  for (const path of wanted) {
    const key = fileKey(repo, info.sha, path);
    const base = before;
    const report = (fileLoaded: number, fileTotal: number | undefined, cached: boolean) =>
      opts.onProgress?.({ file: path, fileLoaded, fileTotal, loaded: base + fileLoaded, total, cached });
    let source = await cache.open(key);
    if (source) {
      report(source.size, source.size, true);
    } else {
      const url = `${opts.endpoint ?? HUB_ENDPOINT}/${repo}/resolve/${info.sha}/${encodePath(path)}`;
      await downloadFile(cache, key, url, sizes.get(path), opts, (n, t) => report(n, t, false));
      source = await cache.open(key);
      if (!source) throw new HubError(`${path} was downloaded but the cache cannot read it back.`);
    }
    files.set(path, source);
    before += source.size;
  }
  return { repo, sha: info.sha, files };
}

/** Streams one file into the cache, resuming from the partial bytes after every dropped connection. */
async function downloadFile(
  cache: ModelCache,
  key: string,
  url: string,
  size: number | undefined,
  opts: HubOptions,
  progress: (loaded: number, total: number | undefined) => void,
): Promise<void> {
  const maxRetries = opts.maxRetries ?? 4;
  for (let attempt = 0; ; attempt++) {
    try {
      return await attemptDownload(cache, key, url, size, opts, progress);
    } catch (e) {
      const retryable = e instanceof HubError ? e.retryable : !opts.signal?.aborted;
      if (!retryable || attempt >= maxRetries) {
        if (!retryable) throw e;
        const have = await cache.partialSize(key);
        throw new HubOfflineError(
          `Downloading ${url} failed after ${attempt + 1} attempts (${(e as Error).message}); ` +
            `${have} bytes are kept and the next attempt resumes from there.`,
          true,
        );
      }
      await new Promise((r) => setTimeout(r, Math.min(4000, 250 * 2 ** attempt)));
    }
  }
}

async function attemptDownload(
  cache: ModelCache,
  key: string,
  url: string,
  size: number | undefined,
  opts: HubOptions,
  progress: (loaded: number, total: number | undefined) => void,
): Promise<void> {
  const have = await cache.partialSize(key);
  if (size !== undefined && have === size) {
    await (await cache.writer(key, have)).close(true);
    progress(have, size);
    return;
  }
  const from = size !== undefined && have > size ? 0 : have;
  // One controller per attempt: an idle response is aborted (and resumed) instead of hanging forever.
  const controller = new AbortController();
  const abortOuter = () => controller.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', abortOuter);
  let idle: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(
      () => controller.abort(new HubError('no data received for a while', true)),
      opts.idleTimeoutMs ?? 30_000,
    );
  };
  try {
    arm();
    const res = await (opts.fetch ?? fetch)(url, {
      headers: { ...headers(opts.token), ...(from > 0 ? { Range: `bytes=${from}-` } : {}) },
      signal: controller.signal,
    });
    // The partial is longer than the file: it is not a prefix of it, so the next attempt starts over.
    if (res.status === 416) await (await cache.writer(key, 0)).close(false);
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new HubError(
        `HTTP ${res.status} for ${url}.`,
        res.status === 416 || res.status >= 500 || res.status === 429,
      );
    }
    // A 200 answer to a Range request is the whole file: restart from 0.
    const start = res.status === 206 ? contentRangeStart(res.headers.get('content-range')) : 0;
    if (start !== 0 && start !== from) throw new HubError(`${url} answered a resume from ${from} at ${start}.`, true);
    const length = Number(res.headers.get('content-length') ?? NaN);
    const total = size ?? (Number.isFinite(length) ? start + length : undefined);
    const writer = await cache.writer(key, start);
    let loaded = start;
    let complete = false;
    try {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arm();
        await writer.write(value);
        loaded += value.byteLength;
        progress(loaded, total);
      }
      if (total !== undefined && loaded !== total) {
        throw new HubError(`the connection closed after ${loaded} of ${total} bytes`, true);
      }
      complete = true;
    } finally {
      await writer.close(complete);
    }
  } catch (e) {
    const reason = controller.signal.reason;
    throw controller.signal.aborted && reason instanceof HubError ? reason : e;
  } finally {
    clearTimeout(idle);
    opts.signal?.removeEventListener('abort', abortOuter);
  }
}

function contentRangeStart(header: string | null): number {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header ?? '');
  if (!m) throw new HubError(`a partial response without a valid Content-Range (${header}).`, true);
  return Number(m[1]);
}
