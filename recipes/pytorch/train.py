#!/usr/bin/env python3
"""MeTA-LoRA Studio's training run in PyTorch: the recipe exported by `cli export --format pytorch`.

    python train.py --out runs/a                       # one device: reproduces the exported run
    torchrun --nproc_per_node=N train.py --out runs/a  # N GPUs (NCCL) or N CPU processes (gloo)
    torchrun --nproc_per_node=8 train.py --out runs/c --fsdp --dtype bfloat16  # a base sharded over 8 GPUs
    python train.py --out runs/b --iterations 1000 --base /models/Llama-2-7b-hf --dtype bfloat16

It needs PyTorch >= 1.13 and numpy, nothing else. Beside it, the export holds:
    run.json                  settings, task names, the base's location, the adapter_config.json template
    data.json                 each task's training pool and held-out set as token ids (the studio's split)
    adapter_init.safetensors  the initial adapter (PEFT's init from the run's seed)
    schedule.json             the exported run's episodes/batches and dropout seeds, per iteration
    base/                     the base model in Hugging Face layout (unless run.json points elsewhere)

What it implements, exactly as the studio does (src/train, src/adapters):
  - the LLaMA / Qwen2 forward: RMSNorm, RoPE (rotate-half pairing, as HF checkpoints store Q/K; Llama-3
    frequency factors), grouped-query attention, SwiGLU, Qwen2's q/k/v biases; masked mean cross-entropy on
    completion tokens;
  - LoRA (y += a/r * B A drop(x)) and MTL-LoRA (y += a/r * sum_i softmax(w_t/tau)_i B^i L_t A drop(x));
  - meta-lora: K tasks without replacement, disjoint support/query, inner SGD on a copy, the query gradient at
    the adapted copy (first order), the mean over tasks, AdamW with global-norm clipping and the lr schedule;
    meta-lora-no-sta: the same without the inner steps; lora: mixed batches over all tasks' pools;
    mtl-lora: one task's batch per iteration, AdamW stepping only the tensors that task touched;
  - the schedule from the seed (xoshiro128** streams, the same samplers), so runs longer than the exported
    schedule continue the studio's sequence, and dropout masks from the same hash.
Distributed: meta-lora spreads an iteration's K tasks over the ranks and all-reduces the summed query gradient;
lora and mtl-lora split each batch's examples over the ranks and all-reduce gradient and token-count sums. Every
rank then takes the same AdamW step, so all ranks hold the same adapter. Every rank holds the whole base, or
with --fsdp (CUDA, PyTorch >= 2.1) 1/N of it: torch.distributed.fsdp gathers each block for its forward and
backward, every rank runs the same passes (a rank short of work repeats one and drops it), and the adapter stays
replicated and all-reduced as without. See docs/SCALE_OUT.md in the studio's repository.

Outputs in --out: adapter_model.safetensors + adapter_config.json (the studio's adapter folder: `cli eval`,
`cli export` and the app's Compare tab read it), metrics.jsonl (the studio's rows), torch_checkpoint.json +
torch_checkpoint.safetensors (resume with --resume).
"""

import argparse
import json
import math
import os
import re
import struct
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
MASK32 = 0xFFFFFFFF
TARGETS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down']
MODULES = {'q': 'self_attn.q_proj', 'k': 'self_attn.k_proj', 'v': 'self_attn.v_proj', 'o': 'self_attn.o_proj',
           'gate': 'mlp.gate_proj', 'up': 'mlp.up_proj', 'down': 'mlp.down_proj'}
PREFIX = 'base_model.model.model.layers.'
EVAL_BATCH = 16  # held-out examples per forward pass (src/train/evaluate.ts)


class RecipeError(Exception):
    """A problem with the inputs, reported in one line instead of a traceback."""


# ----------------------------------------------------------------------------------------------------------
# safetensors without the safetensors package

ST_DTYPES = {'F32': np.float32, 'F16': np.float16, 'BF16': np.uint16, 'F64': np.float64, 'I64': np.int64,
             'I32': np.int32}


def read_safetensors(path, convert=lambda t: t):
    """{name: convert(float32 tensor for F32/F16/BF16)} of one .safetensors file. The file is memory-mapped and
    each tensor converted as it is read, so a large base never exists whole in float32 on the host."""
    data = np.memmap(path, dtype=np.uint8, mode='r') if os.path.getsize(path) else np.zeros(0, np.uint8)
    if len(data) < 8:
        raise RecipeError(f'{path}: too short for a safetensors file')
    (n,) = struct.unpack('<Q', data[:8].tobytes())
    if 8 + n > len(data):
        raise RecipeError(f'{path}: header length {n} runs past the end of the file')
    header = json.loads(data[8:8 + n].tobytes())
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        if info['dtype'] not in ST_DTYPES:
            raise RecipeError(f'{path}: tensor {name} has unsupported dtype {info["dtype"]}')
        start, end = info['data_offsets']
        raw = np.frombuffer(data, dtype=ST_DTYPES[info['dtype']], count=(end - start) // np.dtype(ST_DTYPES[info['dtype']]).itemsize,
                            offset=8 + n + start)
        if info['dtype'] == 'BF16':
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        out[name] = convert(torch.from_numpy(raw.astype(np.float32) if raw.dtype == np.float16 else raw.copy()).reshape(info['shape']))
    return out


def write_safetensors(path, tensors):
    """Writes {name: tensor} as F32 with metadata {"format": "pt"} (as the studio writes adapters)."""
    header, blobs, offset = {'__metadata__': {'format': 'pt'}}, [], 0
    for name, t in tensors.items():
        b = t.detach().to('cpu', torch.float32).contiguous().numpy().tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * ((8 - len(text) % 8) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def write_json(path, value):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(value, f, indent=2)
        f.write('\n')
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------------------
# The studio's random streams (src/train/rng.ts): xoshiro128** seeded through splitmix32, children by label.

def _imul(a, b):
    return (a * b) & MASK32


def _splitmix32(x):
    nxt = (x + 0x9E3779B9) & MASK32
    z = nxt
    z = _imul(z ^ (z >> 16), 0x85EBCA6B)
    z = _imul(z ^ (z >> 13), 0xC2B2AE35)
    return nxt, (z ^ (z >> 16)) & MASK32


def _hash_label(label):
    h = 0x811C9DC5
    units = label.encode('utf-16-le')
    for i in range(0, len(units), 2):
        h = _imul(h ^ (units[i] | units[i + 1] << 8), 0x01000193)
    return h


def _state_from_words(words):
    x = 0
    for w in words:
        x = _splitmix32((x ^ w) & MASK32)[1]
    state = []
    for _ in range(4):
        x, out = _splitmix32(x)
        state.append(out)
    if not any(state):
        state[0] = 1
    return state


def _rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & MASK32


class Rng:
    def __init__(self, state):
        self.s = list(state)

    @staticmethod
    def from_seed(seed):
        return Rng(_state_from_words([seed & MASK32, (seed // 2 ** 32) & MASK32]))

    def derive(self, label):
        return Rng(_state_from_words(self.s + [_hash_label(label), len(label.encode('utf-16-le')) // 2]))

    def next_u32(self):
        s = self.s
        result = _imul(_rotl(_imul(s[1], 5), 7), 9)
        t = (s[1] << 9) & MASK32
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 11)
        return result

    def int(self, n):
        limit = 2 ** 32 - (2 ** 32 % n)
        while True:
            x = self.next_u32()
            if x < limit:
                return x % n

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.int(i + 1)
            items[i], items[j] = items[j], items[i]
        return items

    def sample(self, n, k):
        pool = list(range(n))
        for i in range(k):
            j = i + self.int(n - i)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]


# ----------------------------------------------------------------------------------------------------------
# The samplers (src/train/episodes.ts): what each iteration trains on, as indices into the training pools.

def _fresh_order(n):
    return {'order': list(range(n)), 'cursor': n, 'epoch': -1}


def _take_batch(o, size, rng):
    if o['cursor'] + size > len(o['order']):
        rng.shuffle(o['order'])
        o['cursor'] = 0
        o['epoch'] += 1
    o['cursor'] += size
    return o['order'][o['cursor'] - size:o['cursor']]


class Sampler:
    """meta: K tasks with disjoint support/query; mixed: batches over all pools; per-task: MTL-LoRA's rotation."""

    def __init__(self, method, pools, s, rng):
        self.pools, self.s, self.rng = pools, s, rng
        self.kind = {'meta-lora': 'meta', 'meta-lora-no-sta': 'meta', 'lora': 'mixed', 'mtl-lora': 'per-task'}[method]
        if self.kind == 'meta':
            self.orders = []
            for t, n in enumerate(pools):
                if s['supportSize'] + s['querySize'] > n:
                    raise RecipeError(f'task {t}: support + query exceed its training pool of {n}')
        elif self.kind == 'mixed':
            self.items = [(t, i) for t, n in enumerate(pools) for i in range(n)]
            if s['batchSize'] > len(self.items):
                raise RecipeError(f'batch size {s["batchSize"]} exceeds the {len(self.items)} training examples')
            self.orders = [_fresh_order(len(self.items))]
        else:
            if any(s['batchSize'] > n for n in pools):
                raise RecipeError(f'batch size {s["batchSize"]} exceeds a task\'s training pool')
            self.orders = [_fresh_order(len(pools))] + [_fresh_order(n) for n in pools]

    def next(self):
        s = self.s
        if self.kind == 'meta':
            k = min(len(self.pools), s['tasksPerIteration'])
            out = []
            for task in self.rng.sample(len(self.pools), k):
                drawn = self.rng.sample(self.pools[task], s['supportSize'] + s['querySize'])
                out.append({'task': task, 'support': drawn[:s['supportSize']], 'query': drawn[s['supportSize']:]})
            return out
        if self.kind == 'mixed':
            return [list(self.items[i]) for i in _take_batch(self.orders[0], s['batchSize'], self.rng)]
        (task,) = _take_batch(self.orders[0], 1, self.rng)
        return {'task': task, 'indices': _take_batch(self.orders[1 + task], s['batchSize'], self.rng)}

    def state(self):
        return {'kind': self.kind, 'rng': list(self.rng.s), 'orders': json.loads(json.dumps(self.orders))}

    def restore(self, st):
        if st['kind'] != self.kind or len(st['orders']) != len(self.orders):
            raise RecipeError('the checkpoint\'s sampler does not match these tasks and settings')
        self.rng.s, self.orders = list(st['rng']), st['orders']


def passes_per_iteration(method, plan, s):
    """Dropout seeds an iteration draws, in the studio's order (one per forward+backward pass)."""
    if method == 'meta-lora':
        return len(plan) * (s['innerSteps'] + 1)
    if method == 'meta-lora-no-sta':
        return len(plan)
    if method == 'lora':
        return len({t for t, _ in plan})
    return 1


# ----------------------------------------------------------------------------------------------------------
# Dropout masks: the same hash as shaders/lora_dropout.wgsl, so a run with dropout matches the studio's.

def _mix_seed(a, b):
    h = (_imul(a, 0x9E3779B1) ^ b) & MASK32
    h = _imul(h ^ (h >> 16), 0x85EBCA6B)
    h = _imul(h ^ (h >> 13), 0xC2B2AE35)
    return (h ^ (h >> 16)) & MASK32


def _pcg(v):
    state = (v * 747796405 + 2891336453) & MASK32
    word = (((state >> ((state >> 28) + 4)) ^ state) * 277803737) & MASK32
    return (word >> 22) ^ word


def dropout_keep(seed, token_ids, cols, p):
    """[len(token_ids), cols] bool: keep(token, feature) for the site seed, P(keep) = 1 - p. A token's id is its
    row in the studio's packed batch (sequence * padded length + position), whichever rank computes it."""
    token = np.asarray(token_ids, dtype=np.uint64)[:, None]
    feature = np.arange(cols, dtype=np.uint64)[None, :]
    h = _pcg(_pcg(_pcg(feature) ^ token) ^ np.uint64(seed))
    return torch.from_numpy((h >> np.uint64(8)) >= np.uint64(round(p * 2 ** 24)))


# ----------------------------------------------------------------------------------------------------------
# The base model (Hugging Face layout) and its forward with an adapter.

def load_base(folder, dtype, device):
    cfg_path = os.path.join(folder, 'config.json')
    if not os.path.exists(cfg_path):
        raise RecipeError(f'{folder} has no config.json: --base must be a Hugging Face model folder')
    with open(cfg_path) as f:
        c = json.load(f)
    if c.get('model_type') not in ('llama', 'qwen2'):
        raise RecipeError(f'model_type {c.get("model_type")!r} is not supported (llama, qwen2)')
    if c.get('hidden_act', 'silu') != 'silu':
        raise RecipeError(f'hidden_act {c.get("hidden_act")!r} is not supported (silu)')
    index = os.path.join(folder, 'model.safetensors.index.json')
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)['weight_map'].values()))
    else:
        files = ['model.safetensors']
    weights = {}
    for name in files:
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            raise RecipeError(f'{path} is missing')
        weights.update(read_safetensors(path, lambda t: t.to(device, dtype)))
    dim, heads = c['hidden_size'], c['num_attention_heads']
    cfg = {
        'dim': dim, 'layers': c['num_hidden_layers'], 'heads': heads, 'kv_heads': c.get('num_key_value_heads', heads),
        'head_dim': c.get('head_dim') or dim // heads, 'eps': c.get('rms_norm_eps', 1e-6),
        'theta': c.get('rope_theta', 10000.0), 'vocab': c['vocab_size'], 'hidden': c['intermediate_size'],
    }
    cfg['freq_factors'] = llama3_factors(c.get('rope_scaling'), cfg)
    return cfg, weights


def llama3_factors(scaling, cfg):
    """Per-frequency divisors of Llama-3 RoPE scaling (HF's _compute_llama3_parameters), or None."""
    if not scaling or (scaling.get('rope_type') or scaling.get('type')) in (None, 'default'):
        return None
    if (scaling.get('rope_type') or scaling.get('type')) != 'llama3':
        raise RecipeError(f'rope_scaling {scaling} is not supported (llama3 only)')
    hd, ctx = cfg['head_dim'], scaling['original_max_position_embeddings']
    low, high = ctx / scaling['low_freq_factor'], ctx / scaling['high_freq_factor']
    out = []
    for j in range(hd // 2):
        wavelen = 2 * math.pi / cfg['theta'] ** (-2 * j / hd)
        if wavelen < high:
            out.append(1.0)
        elif wavelen > low:
            out.append(scaling['factor'])
        else:
            smooth = (ctx / wavelen - scaling['low_freq_factor']) / (scaling['high_freq_factor'] - scaling['low_freq_factor'])
            out.append(1 / ((1 - smooth) / scaling['factor'] + smooth))
    return out


class Adapter:
    """The adapter's named tensors and how each (layer, target) site uses them."""

    def __init__(self, settings, tensors):
        self.kind = 'mtl-lora' if settings['method'] == 'mtl-lora' else 'lora'
        self.scale = settings['loraAlpha'] / settings['rank']
        self.dropout = settings['dropout']
        self.tau = settings['mtlTau']
        self.names = list(tensors.keys())
        self.sites = {}
        for name in self.names:
            m = re.match(r'base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)_proj\.', name)
            if not m:
                raise RecipeError(f'unexpected adapter tensor {name}')
            self.sites[(int(m.group(1)), m.group(3))] = f'{PREFIX}{m.group(1)}.{m.group(2)}.{m.group(3)}_proj'

    def branch(self, params, layer, target, x, run):
        """The adapter's addition to the projection of x [N, in] at (layer, target), or None."""
        path = self.sites.get((layer, target))
        if path is None:
            return None
        if self.dropout > 0 and run['train']:
            seed = _mix_seed(run['seed'], layer * len(TARGETS) + TARGETS.index(target))
            keep = dropout_keep(seed, run['token_ids'], x.shape[1], self.dropout).to(x.device)
            x = torch.where(keep, x * np.float32(1 / (1 - self.dropout)), torch.zeros_like(x))
        cast = lambda t: t.to(x.dtype)
        if self.kind == 'lora':
            h = x @ cast(params[f'{path}.lora_A.weight']).t()
            return self.scale * (h @ cast(params[f'{path}.lora_B.weight']).t())
        t = run['task']
        h = x @ cast(params[f'{path}.mtl_lora_A.weight']).t()
        z = h @ cast(params[f'{path}.mtl_lora_Lambda.{t}.weight']).t()
        pi = torch.softmax(params[f'{path}.mtl_lora_w.{t}'] / self.tau, dim=0)
        b_mix = torch.einsum('i,ior->or', pi, params[f'{path}.mtl_lora_B.weight'])
        return self.scale * (z @ cast(b_mix).t())


def check_adapter_fits(tensors, cfg, base):
    """Every adapter tensor's in/out size must be the base's (another base needs its own exported run)."""
    q, kv = cfg['heads'] * cfg['head_dim'], cfg['kv_heads'] * cfg['head_dim']
    dims = {'q': (cfg['dim'], q), 'k': (cfg['dim'], kv), 'v': (cfg['dim'], kv), 'o': (q, cfg['dim']),
            'gate': (cfg['dim'], cfg['hidden']), 'up': (cfg['dim'], cfg['hidden']), 'down': (cfg['hidden'], cfg['dim'])}
    for name, t in tensors.items():
        m = re.match(r'base_model\.model\.model\.layers\.(\d+)\.\w+\.(\w+)_proj\.(\w+?)(?:\.\d+)?(?:\.weight)?$', name)
        layer, target, kind = int(m.group(1)), m.group(2), m.group(3)
        fan_in, fan_out = dims[target]
        want = {'lora_A': [None, fan_in], 'mtl_lora_A': [None, fan_in], 'lora_B': [fan_out, None],
                'mtl_lora_B': [None, fan_out, None]}.get(kind)
        bad = layer >= cfg['layers'] or (want and any(w is not None and w != d for w, d in zip(want, t.shape)))
        if bad:
            raise RecipeError(f'the initial adapter\'s {name} {list(t.shape)} does not fit the base {base} '
                              f'({cfg["layers"]} layers, dim {cfg["dim"]}): export a run trained on that base')


def rope(x, pos, cfg):
    """Rotate-half RoPE on x [B, S, H, hd] at positions pos [S] (angles in float64)."""
    hd = cfg['head_dim']
    j = torch.arange(hd // 2, dtype=torch.float64)
    freq = cfg['theta'] ** (-2 * j / hd)
    if cfg['freq_factors'] is not None:
        freq = freq / torch.tensor(cfg['freq_factors'], dtype=torch.float64)
    angle = pos.to(torch.float64)[:, None] * freq[None, :]
    cos = torch.cos(angle).to(x.device, x.dtype)[None, :, None, :]
    sin = torch.sin(angle).to(x.device, x.dtype)[None, :, None, :]
    a, b = x[..., :hd // 2], x[..., hd // 2:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


def rmsnorm(x, w, eps):
    """RMSNorm with the statistics in float32 at least (a bfloat16 base keeps HF's precision)."""
    wide = x.float() if x.dtype in (torch.bfloat16, torch.float16) else x
    return (wide * torch.rsqrt((wide * wide).mean(-1, keepdim=True) + eps)).to(x.dtype) * w


def attention(q, k, v, lengths):
    """Causal grouped-query attention; keys at positions >= a sequence's length are masked (padding)."""
    B, S, H, hd = q.shape
    group = H // k.shape[2]
    k, v = k.repeat_interleave(group, dim=2), v.repeat_interleave(group, dim=2)
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    pos = torch.arange(S, device=q.device)
    allowed = (pos[None, :] <= pos[:, None])[None, None] & (pos[None, None, None, :] < lengths[:, None, None, None])
    if hasattr(F, 'scaled_dot_product_attention'):
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    else:
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        o = torch.softmax(scores.masked_fill(~allowed, float('-inf')), dim=-1) @ v
    return o.transpose(1, 2).reshape(B, S, H * hd)


BLOCK_WEIGHTS = ['input_layernorm.weight', 'self_attn.q_proj.weight', 'self_attn.q_proj.bias', 'self_attn.k_proj.weight',
                 'self_attn.k_proj.bias', 'self_attn.v_proj.weight', 'self_attn.v_proj.bias', 'self_attn.o_proj.weight',
                 'post_attention_layernorm.weight', 'mlp.gate_proj.weight', 'mlp.up_proj.weight', 'mlp.down_proj.weight']


class Frozen(torch.nn.Module):
    """Frozen base tensors as module parameters (HF names, '.' spelled '__'): torch.distributed.fsdp shards
    modules, and reads them back through `weights()` (under FSDP, views of the gathered flat parameter)."""

    def register(self, names, tensors):
        self.names = [k for k in names if k in tensors]
        for k in self.names:
            self.register_parameter(k.replace('.', '__'), torch.nn.Parameter(tensors.pop(k), requires_grad=False))

    def weights(self):
        return {k: getattr(self, k.replace('.', '__')) for k in self.names}


class Block(Frozen):
    """One pre-norm LLaMA / Qwen2 block with the adapter's branch added right after each projection (as the
    studio's training block adds it). With --fsdp each block is one FSDP unit: gathered for its forward and again
    for its backward, sharded between."""

    def __init__(self, cfg, layer, tensors):
        super().__init__()
        self.cfg, self.layer = cfg, layer
        self.register([f'model.layers.{layer}.{k}' for k in BLOCK_WEIGHTS], tensors)

    def forward(self, x, lengths, shape, adapter, params, run):
        cfg, l, (B, S) = self.cfg, self.layer, shape
        hd, H, KV = cfg['head_dim'], cfg['heads'], cfg['kv_heads']
        named = self.weights()
        w = {k[len(f'model.layers.{l}.'):]: v for k, v in named.items()}
        pos = torch.arange(S)

        def project(target, inp, weight, bias=None):
            y = inp @ weight.t()
            if bias is not None:
                y = y + bias
            extra = adapter.branch(params, l, target, inp, run)
            return y if extra is None else y + extra

        n1 = rmsnorm(x, w['input_layernorm.weight'], cfg['eps'])
        q = project('q', n1, w['self_attn.q_proj.weight'], w.get('self_attn.q_proj.bias'))
        k = project('k', n1, w['self_attn.k_proj.weight'], w.get('self_attn.k_proj.bias'))
        v = project('v', n1, w['self_attn.v_proj.weight'], w.get('self_attn.v_proj.bias'))
        q = rope(q.view(B, S, H, hd), pos, cfg)
        k = rope(k.view(B, S, KV, hd), pos, cfg)
        o = attention(q, k, v.view(B, S, KV, hd), lengths).reshape(B * S, H * hd)
        x = x + project('o', o, w['self_attn.o_proj.weight'])
        n2 = rmsnorm(x, w['post_attention_layernorm.weight'], cfg['eps'])
        g = project('gate', n2, w['mlp.gate_proj.weight'])
        u = project('up', n2, w['mlp.up_proj.weight'])
        return x + project('down', F.silu(g) * u, w['mlp.down_proj.weight'])


class Base(Frozen):
    """The frozen base: embedding, blocks, final norm and head (the embedding when tied). Its forward is the
    summed cross-entropy (float32) over a packed batch's scored tokens with the adapter."""

    def __init__(self, cfg, tensors):
        super().__init__()
        self.cfg = cfg
        self.blocks = torch.nn.ModuleList(Block(cfg, l, tensors) for l in range(cfg['layers']))
        self.register(['model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight'], tensors)

    def forward(self, batch, adapter, params, run):
        tokens, targets, lengths = batch['tokens'], batch['targets'], batch['lengths']
        B, S = tokens.shape
        # Dropout masks hash each token's index in the studio's packed batch (all rows of the pass, in order).
        rows = batch['rows'] if batch['rows'] is not None else range(B)
        run = dict(run, token_ids=[r * S + i for r in rows for i in range(S)])
        w = self.weights()
        x = w['model.embed_tokens.weight'][tokens.reshape(-1)]
        for block in self.blocks:
            x = block(x, lengths, (B, S), adapter, params, run)
        head = w.get('lm_head.weight', w['model.embed_tokens.weight'])
        logits = rmsnorm(x, w['model.norm.weight'], self.cfg['eps']) @ head.t()
        return F.cross_entropy(logits.float(), targets.reshape(-1), ignore_index=-1, reduction='sum')


def pack(examples, rows=None):
    """The studio's packBatch: padded tokens, targets shifted and set on completion tokens only, lengths.
    `rows` picks this rank's rows of the full packed batch (all rows when None); padding keeps the full length."""
    S = max(len(p) + len(c) for p, c in examples)
    chosen = list(range(len(examples))) if rows is None else rows
    tokens = torch.zeros(len(chosen), S, dtype=torch.long)
    targets = torch.full((len(chosen), S), -1, dtype=torch.long)
    lengths = torch.ones(len(chosen), dtype=torch.long)
    for b, r in enumerate(chosen):
        prompt, completion = examples[r]
        seq = prompt + completion
        tokens[b, :len(seq)] = torch.tensor(seq)
        lengths[b] = len(seq)
        for i in range(max(0, len(prompt) - 1), len(seq) - 1):
            targets[b, i] = seq[i + 1]
    count = int((targets >= 0).sum())
    return {'tokens': tokens, 'targets': targets, 'lengths': lengths, 'count': count, 'rows': rows,
            'token_count': sum(len(examples[r][0]) + len(examples[r][1]) for r in chosen)}


# ----------------------------------------------------------------------------------------------------------
# Optimizers and schedule (src/ops/optimizer.ts, src/train/schedule.ts).

def learning_rate(s, step, total):
    peak = s['lr']
    if step < s['warmupSteps']:
        return peak * (step + 1) / s['warmupSteps']
    if s['schedule'] == 'constant':
        return peak
    span = total - s['warmupSteps'] - 1
    progress = min(1.0, (step - s['warmupSteps']) / span) if span > 0 else 1.0
    floor = peak * s['minLrRatio']
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class AdamW:
    """PyTorch's AdamW with the global-norm clip factor, one step count per group of tensors (MTL-LoRA)."""

    def __init__(self, params, s):
        self.s = s
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}
        self.v = {k: torch.zeros_like(v) for k, v in params.items()}

    def clip_factor(self, grads):
        norm = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads.values()))
        limit = self.s['gradClip'] if self.s['gradClip'] > 0 else math.inf
        return norm, min(1.0, limit / (norm + 1e-6))

    @torch.no_grad()
    def step(self, params, grads, lr, groups, factor):
        s = self.s
        for names, step in groups:
            bc1, bc2 = 1 - s['beta1'] ** step, 1 - s['beta2'] ** step
            for k in names:
                g = grads[k] * factor
                p, m, v = params[k], self.m[k], self.v[k]
                p.mul_(1 - lr * s['weightDecay'])
                m.mul_(s['beta1']).add_(g, alpha=1 - s['beta1'])
                v.mul_(s['beta2']).addcmul_(g, g, value=1 - s['beta2'])
                p.addcdiv_(m, v.sqrt() / math.sqrt(bc2) + 1e-8, value=-lr / bc1)


# ----------------------------------------------------------------------------------------------------------
# One iteration per method. Each returns the per-task losses, the objective and the gradient (already the mean).

class World:
    def __init__(self):
        self.size = int(os.environ.get('WORLD_SIZE', '1'))
        self.rank = int(os.environ.get('RANK', '0'))
        self.local_rank = int(os.environ.get('LOCAL_RANK', '0'))
        # --fsdp: every forward and backward is collective (each block is gathered from all ranks), so every
        # rank must run the same passes in the same order.
        self.lockstep = False

    def all_sum(self, tensor):
        if self.size > 1:
            dist.all_reduce(tensor)
        return tensor


class Trainer:
    def __init__(self, base, adapter, params, tasks, s, world, device):
        self.base, self.adapter, self.params = base, adapter, params
        self.tasks, self.s, self.world, self.device = tasks, s, world, device
        self.owner = {k: task_of_param(k) for k in params}
        self.task_steps = [0] * len(tasks)

    def batch(self, task, indices, rows=None):
        pool = self.tasks[task]['train']
        b = pack([pool[i] for i in indices], rows)
        for k in ('tokens', 'targets', 'lengths'):
            b[k] = b[k].to(self.device)
        return b

    def loss_and_grad(self, params, batch, run, names):
        """(summed loss, scored count, gradients of the summed loss) of one packed batch at `params`."""
        leaves = {k: params[k].detach().requires_grad_(k in names) for k in params}
        loss = self.base(batch, self.adapter, leaves, run)
        grads = torch.autograd.grad(loss, [leaves[k] for k in names], allow_unused=True)
        out = {k: (g if g is not None else torch.zeros_like(params[k])) for k, g in zip(names, grads)}
        return float(loss), batch['count'], out

    def zeros(self):
        return {k: torch.zeros_like(v) for k, v in self.params.items()}

    def episode(self, ep, task_seeds, sta):
        """One task's inner steps on its support set (sta) and query gradient at the adapted copy: (support
        loss, query loss, the query loss's mean gradient, tokens)."""
        s, names = self.s, list(self.params)
        local = {k: v.clone() for k, v in self.params.items()}
        support_loss, tokens = math.nan, 0
        if sta:
            support = self.batch(ep['task'], ep['support'])
            for step in range(s['innerSteps']):
                loss, count, g = self.loss_and_grad(local, support, {'task': ep['task'], 'seed': task_seeds[step], 'train': True}, names)
                if step == 0:
                    support_loss = loss / count if count else math.nan
                with torch.no_grad():
                    for k in names:
                        local[k] -= s['innerLr'] * (g[k] / count if count else 0 * g[k])
            tokens += s['innerSteps'] * support['token_count']
        query = self.batch(ep['task'], ep['query'])
        loss, count, g = self.loss_and_grad(local, query, {'task': ep['task'], 'seed': task_seeds[-1], 'train': True}, names)
        tokens += query['token_count']
        return support_loss, loss / count if count else math.nan, {k: g[k] / count if count else 0 * g[k] for k in names}, tokens

    def meta(self, plan, seeds, sta):
        """MeTA-LoRA / -STA: this rank's share of the K tasks, then the all-reduced mean query gradient."""
        world = self.world
        total = self.zeros()
        losses = torch.zeros(len(plan), 2, dtype=torch.float64)
        per_task = self.s['innerSteps'] + 1 if sta else 1
        tokens = 0
        mine = range(world.rank, len(plan), world.size)
        for e in mine:
            losses[e, 0], losses[e, 1], g, used = self.episode(plan[e], seeds[e * per_task:(e + 1) * per_task], sta)
            tokens += used
            for k in total:
                total[k] += g[k]
        # Under FSDP every pass gathers each block from all ranks, so a rank with fewer tasks runs its first
        # task's passes again (K not a multiple of the ranks) and drops the result.
        for _ in range(len(range(0, len(plan), world.size)) - len(mine) if world.lockstep else 0):
            self.episode(plan[0], seeds[:per_task], sta)
        grads = self.reduce(total, 1 / len(plan))
        losses = world.all_sum(losses.to(self.device)).cpu()
        rows = [{'task': ep['task'], 'support': float(losses[e, 0]) if sta else None, 'query': float(losses[e, 1])}
                for e, ep in enumerate(plan)]
        return rows, sum(r['query'] for r in rows) / len(rows), grads, tokens

    def batched(self, parts, seeds, names):
        """lora / mtl-lora: each part (task, pool indices) packed as the studio packs it, rows split over ranks;
        the gradient of the token mean over all parts from all-reduced sums."""
        world = self.world
        total = self.zeros()
        sums = torch.zeros(len(parts), 2, dtype=torch.float64)
        tokens = 0
        for p, (task, indices) in enumerate(parts):
            rows = [r for r in range(len(indices)) if r % world.size == world.rank]
            if not rows:
                if world.lockstep:  # FSDP: a pass on row 0, dropped, so this rank joins every block's gathers
                    self.loss_and_grad(self.params, self.batch(task, indices, [0]), {'task': task, 'seed': seeds[p], 'train': True}, names)
                continue
            b = self.batch(task, indices, rows if world.size > 1 else None)
            loss, count, g = self.loss_and_grad(self.params, b, {'task': task, 'seed': seeds[p], 'train': True}, names)
            sums[p] = torch.tensor([loss, count], dtype=torch.float64)
            tokens += b['token_count']
            for k in names:
                total[k] += g[k]
        sums = world.all_sum(sums.to(self.device)).cpu()
        count = float(sums[:, 1].sum())
        grads = self.reduce(total, 1 / count if count else 0.0)
        rows = [{'task': task, 'support': None, 'query': float(sums[p, 0] / sums[p, 1]) if sums[p, 1] else math.nan}
                for p, (task, _) in enumerate(parts)]
        return rows, float(sums[:, 0].sum()) / count if count else math.nan, grads, tokens

    def reduce(self, grads, scale):
        names = list(grads)
        flat = torch.cat([grads[k].reshape(-1) for k in names])
        flat = self.world.all_sum(flat) * scale
        out, at = {}, 0
        for k in names:
            n = grads[k].numel()
            out[k] = flat[at:at + n].view_as(grads[k])
            at += n
        return out

    def iterate(self, it, plan, seeds):
        """Rows, objective, gradient, AdamW groups and tokens of 0-based iteration `it`."""
        method, everything = self.s['method'], list(self.params)
        if method in ('meta-lora', 'meta-lora-no-sta'):
            rows, objective, grads, tokens = self.meta(plan, seeds, method == 'meta-lora')
            return rows, objective, grads, [(everything, it + 1)], tokens
        if method == 'lora':
            present = sorted({t for t, _ in plan})
            parts = [(t, [i for u, i in plan if u == t]) for t in present]
            rows, objective, grads, tokens = self.batched(parts, seeds, everything)
            return rows, objective, grads, [(everything, it + 1)], tokens
        task = plan['task']
        shared = [k for k in everything if self.owner[k] is None]
        own = [k for k in everything if self.owner[k] == task]
        rows, objective, grads, tokens = self.batched([(task, plan['indices'])], seeds, shared + own)
        grads = {k: grads.get(k, torch.zeros_like(v)) for k, v in self.params.items()}
        self.task_steps[task] += 1
        return rows, objective, grads, [(shared, it + 1), (own, self.task_steps[task])], tokens

    @torch.no_grad()
    def eval_loss(self, task):
        """Held-out loss of one task (sum over scored tokens / count), or None without a held-out set."""
        held = self.tasks[task]['eval']
        if not held:
            return None
        total, count = 0.0, 0
        starts = range(0, len(held), EVAL_BATCH)
        mine = starts[self.world.rank::self.world.size]
        # FSDP: a rank with fewer batches repeats its first one (dropped) so every rank runs as many forwards.
        extra = len(starts[::self.world.size]) - len(mine) if self.world.lockstep else 0
        for n, i in enumerate(list(mine) + [starts[0]] * extra):
            b = pack(held[i:i + EVAL_BATCH])
            for k in ('tokens', 'targets', 'lengths'):
                b[k] = b[k].to(self.device)
            loss = float(self.base(b, self.adapter, self.params, {'task': task, 'seed': 0, 'train': False}))
            if n < len(mine):
                total, count = total + loss, count + b['count']
        sums = self.world.all_sum(torch.tensor([total, count], dtype=torch.float64, device=self.device)).cpu()
        return float(sums[0] / sums[1]) if sums[1] > 0 else None


FSDP_MIN_TORCH = (2, 1)


def check_fsdp(device, world):
    """--fsdp's requirements, each refused with its reason before anything is loaded."""
    if device.type != 'cuda':
        raise RecipeError(f'--fsdp shards the base over CUDA GPUs (NCCL) and cannot run on {device.type}: FSDP computes '
                          'on the current CUDA device and synchronises through CUDA streams (PyTorch 1.13; FSDP on CPUs '
                          'is untested with this recipe). Without --fsdp every process holds the whole base, which is '
                          'what CPUs (gloo) run')
    version = tuple(int(x) for x in re.findall(r'\d+', torch.__version__)[:2])
    if version < FSDP_MIN_TORCH:
        raise RecipeError(f'--fsdp needs PyTorch >= {".".join(map(str, FSDP_MIN_TORCH))} (this is {torch.__version__}): '
                          'earlier FSDP reshards a frozen block only when the whole backward ends, so the base would '
                          'be gathered whole on every GPU anyway')
    if world.size < 2:
        raise RecipeError('--fsdp shards over torchrun\'s processes: launch with torchrun --nproc_per_node=N, N >= 2')


def shard_base(base, device):
    """--fsdp: each block one FSDP unit (FULL_SHARD: every rank keeps 1/N of its weights, gathers the block for
    its forward and again for its backward), the embedding, final norm and head the root unit. Imported here:
    Debian's torch 1.13 on Python 3.11 cannot even import torch.distributed.fsdp (pytorch/pytorch#91795)."""
    import functools
    from torch.distributed.fsdp import FullyShardedDataParallel, ShardingStrategy
    from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy
    policy = functools.partial(transformer_auto_wrap_policy, transformer_layer_cls={Block})
    return FullyShardedDataParallel(base, auto_wrap_policy=policy, sharding_strategy=ShardingStrategy.FULL_SHARD,
                                    device_id=device)


def task_of_param(name):
    m = re.search(r'\.mtl_lora_(?:Lambda\.(\d+)\.weight|w\.(\d+))$', name)
    return int(m.group(1) or m.group(2)) if m else None


# ----------------------------------------------------------------------------------------------------------
# The run: schedule, metrics rows, evaluation, checkpoints, outputs.

def mean_row(rows, it, lr, tps):
    def mean(key):
        vals = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and r.get(key) is not None]
        return sum(vals) / len(vals) if vals else None
    row = {'iteration': it, 'task': 'mean', 'support_loss': mean('support_loss'), 'query_loss': mean('query_loss'),
           'lr': lr, 'tokens_per_s': tps}
    if any('eval_loss' in r for r in rows):
        row['eval_loss'] = mean('eval_loss')
    return row


def metrics_line(row):
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
    return json.dumps(clean, separators=(',', ':'))


def parse_args(argv):
    p = argparse.ArgumentParser(description='Reproduce (or extend) a MeTA-LoRA Studio training run in PyTorch.')
    p.add_argument('--out', required=True, help='folder for the adapter, metrics.jsonl and the checkpoint')
    p.add_argument('--iterations', type=int, help='outer iterations (default: the exported run\'s)')
    p.add_argument('--base', help='Hugging Face model folder to train on (default: run.json\'s base)')
    p.add_argument('--lr', type=float, help='peak outer AdamW rate')
    p.add_argument('--inner-lr', type=float, help='inner SGD rate (meta-lora)')
    p.add_argument('--eval-every', type=int, help='iterations between held-out evaluations (0: only at the end)')
    p.add_argument('--checkpoint-every', type=int, help='iterations between checkpoints (0: only at the end)')
    p.add_argument('--dtype', default='float32', choices=['float32', 'float64', 'bfloat16', 'float16'],
                   help='dtype of the base weights and activations (the adapter and AdamW stay float32); float32 '
                        'reproduces the studio, bfloat16 halves the memory, float16 only on GPUs')
    p.add_argument('--device', help='cpu, cuda (default: cuda when available)')
    p.add_argument('--fsdp', action='store_true',
                   help='shard the frozen base over the GPUs (torch.distributed.fsdp, PyTorch >= 2.1, CUDA) for bases '
                        'that do not fit one GPU; the adapter stays replicated')
    p.add_argument('--resume', action='store_true', help='continue from --out\'s torch_checkpoint')
    p.add_argument('--stop-after', type=int, help='stop (with a checkpoint) after this many iterations; --resume continues')
    p.add_argument('--recipe', default=HERE, help='the exported folder (default: this file\'s)')
    return p.parse_args(argv)


def load_recipe(folder):
    def read(name):
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            raise RecipeError(f'{path} is missing: run train.py from the folder `cli export --format pytorch` wrote')
        with open(path) as f:
            return json.load(f)
    run = read('run.json')
    if run.get('format') != 'metalora-pytorch-recipe' or run.get('version') != 1:
        raise RecipeError(f'{folder}/run.json is not a version-1 MeTA-LoRA Studio recipe')
    data = read('data.json')
    tasks = [{'name': t['name'], 'train': [(e[0], e[1]) for e in t['train']], 'eval': [(e[0], e[1]) for e in t['eval']]}
             for t in data['tasks']]
    schedule = read('schedule.json') if os.path.exists(os.path.join(folder, 'schedule.json')) else None
    init = read_safetensors(os.path.join(folder, 'adapter_init.safetensors'))
    return run, tasks, schedule, init


def main(argv):
    a = parse_args(argv)
    world = World()
    run, tasks, schedule, init = load_recipe(a.recipe)
    s = dict(run['settings'])
    for key, flag in (('iterations', a.iterations), ('lr', a.lr), ('innerLr', a.inner_lr), ('evalEvery', a.eval_every),
                      ('checkpointEvery', a.checkpoint_every)):
        if flag is not None:
            s[key] = flag
    if s['iterations'] < 1:
        raise RecipeError('--iterations must be at least 1')
    cuda = torch.cuda.is_available() and a.device != 'cpu'
    device = torch.device(a.device or (f'cuda:{world.local_rank}' if cuda else 'cpu'))
    if a.dtype == 'float16' and device.type == 'cpu':
        raise RecipeError('--dtype float16 needs a GPU (PyTorch has no float16 matmul on CPUs); use bfloat16 there')
    if a.fsdp:
        check_fsdp(device, world)
        world.lockstep = True
    if device.type == 'cuda':
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = False  # reproduce the studio's f32 arithmetic
        torch.backends.cudnn.allow_tf32 = False
    # A launcher that already joined the group (a script calling main() for several runs) keeps it.
    own_group = world.size > 1 and not dist.is_initialized()
    if own_group:
        dist.init_process_group('nccl' if device.type == 'cuda' else 'gloo')
    base = a.base or os.path.join(a.recipe, run['base']['path'])  # an absolute path in run.json stays as it is
    # FSDP reads the base into host memory and moves it to the GPU one block at a time, sharding as it goes.
    cfg, weights = load_base(base, getattr(torch, a.dtype), torch.device('cpu') if a.fsdp else device)
    check_adapter_fits(init, cfg, base)
    adapter = Adapter(s, init)
    params = {k: v.to(device, torch.float64 if a.dtype == 'float64' else torch.float32).clone() for k, v in init.items()}
    model = shard_base(Base(cfg, weights), device) if a.fsdp else Base(cfg, weights)
    trainer = Trainer(model, adapter, params, tasks, s, world, device)
    optimizer = AdamW(params, s)

    root = Rng.from_seed(s['seed'])
    sampler = Sampler(s['method'], [len(t['train']) for t in tasks], s, root.derive('sampler'))
    dropout = root.derive('dropout')
    names = [t['name'] for t in tasks]
    os.makedirs(a.out, exist_ok=True)
    metrics, start = [], 0
    ck_json = os.path.join(a.out, 'torch_checkpoint.json')
    if a.resume and os.path.exists(ck_json):
        with open(ck_json) as f:
            ck = json.load(f)
        frozen = {k: v for k, v in ck['settings'].items() if k not in ('iterations', 'evalEvery', 'checkpointEvery')}
        if any(frozen[k] != s[k] for k in frozen):
            raise RecipeError('cannot resume: the checkpoint was trained with other settings')
        saved = read_safetensors(os.path.join(a.out, 'torch_checkpoint.safetensors'))
        for k in params:
            params[k].copy_(saved['param.' + k])
            optimizer.m[k].copy_(saved['m.' + k])
            optimizer.v[k].copy_(saved['v.' + k])
        sampler.restore(ck['sampler'])
        dropout.s = list(ck['dropout'])
        trainer.task_steps = ck['taskSteps']
        metrics, start = ck['metrics'], ck['iteration']
    elif a.resume:
        raise RecipeError(f'--resume: {ck_json} does not exist')
    lead = world.rank == 0
    metrics_path = os.path.join(a.out, 'metrics.jsonl')
    if lead:
        with open(metrics_path, 'w') as f:
            f.writelines(metrics_line(r) + '\n' for r in metrics)

    def emit(rows):
        metrics.extend(rows)
        if lead:
            with open(metrics_path, 'a') as f:
                f.writelines(metrics_line(r) + '\n' for r in rows)

    def evaluate(it, lr):
        rows = []
        for t, name in enumerate(names):
            loss = trainer.eval_loss(t)
            if loss is not None:
                rows.append({'iteration': it, 'task': name, 'support_loss': None, 'query_loss': None, 'lr': lr,
                             'tokens_per_s': 0, 'eval_loss': loss})
        if rows:
            rows.append(mean_row(rows, it, lr, 0))
            if lead:
                print(f'eval @{it}: held-out loss {rows[-1]["eval_loss"]:.4f} (' +
                      ', '.join(f'{r["task"]} {r["eval_loss"]:.4f}' for r in rows[:-1]) + ')', file=sys.stderr)
        return rows

    def save(it):
        if not lead:
            return
        tensors = {}
        for k in params:
            tensors['param.' + k], tensors['m.' + k], tensors['v.' + k] = params[k], optimizer.m[k], optimizer.v[k]
        write_safetensors(os.path.join(a.out, 'torch_checkpoint.safetensors'), tensors)
        write_json(ck_json, {'iteration': it, 'settings': s, 'sampler': sampler.state(), 'dropout': list(dropout.s),
                             'taskSteps': trainer.task_steps, 'metrics': metrics,
                             'tasks': [{'name': t['name'], 'poolSize': len(t['train'])} for t in tasks]})

    if lead:
        print(f'training {s["method"]} on {len(tasks)} tasks for {s["iterations"]} iterations on {world.size} '
              f'process(es), {device}', file=sys.stderr)
    end = min(s['iterations'], a.stop_after) if a.stop_after is not None else s['iterations']
    for it in range(start, end):
        plan = sampler.next()
        seeds = [dropout.next_u32() for _ in range(passes_per_iteration(s['method'], plan, s))]
        if schedule is not None and it < len(schedule['iterations']):
            check_schedule(schedule['iterations'][it], plan, seeds, it)
        lr = learning_rate(s, it, s['iterations'])
        began = time.perf_counter()
        rows, objective, grads, groups, tokens = trainer.iterate(it, plan, seeds)
        norm, factor = optimizer.clip_factor(grads)
        if not math.isfinite(norm) or not math.isfinite(objective):
            raise RecipeError(f'iteration {it + 1}: a loss or gradient became NaN or infinite; lower lr or innerLr. '
                              'The last checkpoint is kept.')
        optimizer.step(params, grads, lr, groups, factor)
        tokens_all = float(world.all_sum(torch.tensor([float(tokens)], dtype=torch.float64, device=device)).cpu()[0])
        tps = tokens_all / max(1e-9, time.perf_counter() - began)
        task_rows = [{'iteration': it + 1, 'task': names[r['task']], 'support_loss': r['support'], 'query_loss': r['query'],
                      'lr': lr, 'tokens_per_s': tps} for r in rows]
        mean = mean_row(task_rows, it + 1, lr, tps)
        mean['query_loss'], mean['grad_norm'] = objective, norm
        emit(task_rows + [mean])
        if lead:
            sup = mean['support_loss']
            print(f'iter {it + 1}/{s["iterations"]}  query {objective:.4f}  support {"–" if sup is None else f"{sup:.4f}"}  '
                  f'grad {norm:.4f}  lr {lr:.2e}  {tps:.0f} tok/s', file=sys.stderr)
        iteration = it + 1
        if s['evalEvery'] > 0 and iteration % s['evalEvery'] == 0 and iteration < s['iterations']:
            emit(evaluate(iteration, lr))
        if s['checkpointEvery'] > 0 and iteration % s['checkpointEvery'] == 0 and iteration < end:
            save(iteration)
    if start < end and end == s['iterations']:
        emit(evaluate(end, learning_rate(s, end - 1, s['iterations'])))
    save(end)
    if lead:
        config = dict(run['adapter_config'])
        config['base_model_name_or_path'] = os.path.abspath(base)
        config['metalora'] = dict(config['metalora'], settings=s, ropePairing='half')
        write_safetensors(os.path.join(a.out, 'adapter_model.safetensors'), params)
        write_json(os.path.join(a.out, 'adapter_config.json'), config)
        print(f'wrote {a.out}/adapter_model.safetensors, adapter_config.json, metrics.jsonl and the checkpoint '
              f'(iteration {end})', file=sys.stderr)
    if world.size > 1:
        dist.barrier()
    if own_group:
        dist.destroy_process_group()


def check_schedule(exported, plan, seeds, it):
    """The generated schedule must be the exported one: otherwise the data or the generator differ."""
    if exported['plan'] != plan or exported['seeds'] != seeds:
        raise RecipeError(f'iteration {it + 1}: the schedule generated from the seed differs from schedule.json '
                          '(was data.json or run.json edited?)')


if __name__ == '__main__':
    try:
        main(sys.argv[1:])
    except RecipeError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
