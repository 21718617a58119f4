"""PyTorch twin of `fedpft bench`'s engine step: the same encoder shapes (read from an FM's
config.json), batch, text length and trainable sets, timed the same way, so the project's step
time can be set beside PyTorch's in one bench run.

  python3 torch-twin.py MODEL_DIR --batch B --steps K --repeats R [--text-length T]

Full step: every weight trains. LoRA step: rank 8 (alpha 16) on q, k, v and the attention
output, plus the classifier (and BERT's pooler), as the engine section trains them. AdamW.
One thread (torch.set_num_threads(1)). Prints one JSON line per step kind: the best repeat's
and the median's ms per step, each repeat timing K steps after one warm-up step."""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def arg(name, default=None):
    args = sys.argv[2:]
    return int(args[args.index(name) + 1]) if name in args else default


model_dir = sys.argv[1]
batch, steps, repeats, text_length = arg("--batch"), arg("--steps"), arg("--repeats", 3), arg("--text-length", 128)
torch.set_num_threads(1)
cfg = json.load(open(f"{model_dir}/config.json"))
d, layers, heads = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]
ffn = cfg.get("intermediate_sizes") or [cfg["intermediate_size"]] * layers
text = cfg["model_type"] in ("bert", "roberta")
labels = len(cfg.get("id2label") or {"0": 0, "1": 1})
eps = cfg.get("layer_norm_eps", 1e-12)


class LoraLinear(nn.Module):
    def __init__(self, i, o, rank):
        super().__init__()
        self.base = nn.Linear(i, o)
        self.rank = rank
        if rank:
            self.lora_a = nn.Parameter(torch.randn(rank, i) * 0.02)
            self.lora_b = nn.Parameter(torch.zeros(o, rank))

    def forward(self, x):
        y = self.base(x)
        return y + (x @ self.lora_a.t() @ self.lora_b.t()) * (16 / self.rank) if self.rank else y


class Layer(nn.Module):
    def __init__(self, width, rank):
        super().__init__()
        self.q, self.k, self.v, self.o = (LoraLinear(d, d, rank) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
        self.f1, self.f2 = nn.Linear(d, width), nn.Linear(width, d)

    def attention(self, x, mask):
        b, s, _ = x.shape
        split = lambda t: t.view(b, s, heads, d // heads).transpose(1, 2)
        scores = split(self.q(x)) @ split(self.k(x)).transpose(-1, -2) / math.sqrt(d // heads)
        if mask is not None:
            scores = scores + mask
        return self.o((scores.softmax(-1) @ split(self.v(x))).transpose(1, 2).reshape(b, s, d))

    def forward(self, x, mask):
        if not text:  # ViT: pre-LayerNorm
            x = x + self.attention(self.ln1(x), mask)
            return x + self.f2(F.gelu(self.f1(self.ln2(x))))
        x = self.ln1(x + self.attention(x, mask))  # BERT: post-LayerNorm
        return self.ln2(x + self.f2(F.gelu(self.f1(x))))


class Encoder(nn.Module):
    def __init__(self, rank):
        super().__init__()
        if text:
            self.tokens = nn.Embedding(cfg["vocab_size"], d)
            self.positions = nn.Embedding(cfg["max_position_embeddings"], d)
            self.types = nn.Embedding(cfg.get("type_vocab_size", 2), d)
            self.pooler = nn.Linear(d, d)
        else:
            p = cfg["patch_size"]
            self.patch = nn.Linear(cfg.get("num_channels", 1) * p * p, d)
            self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
            self.positions = nn.Parameter(torch.zeros(1, (cfg["image_size"] // p) ** 2 + 1, d))
        self.ln = nn.LayerNorm(d, eps=eps)
        self.layers = nn.ModuleList(Layer(ffn[l], rank) for l in range(layers))
        self.classifier = nn.Linear(d, labels)

    def forward(self, x):
        if text:
            s = x.shape[1]
            h = self.ln(self.tokens(x) + self.positions(torch.arange(s))[None] + self.types(torch.zeros_like(x)))
            mask = torch.zeros(x.shape[0], 1, 1, s)
            for layer in self.layers:
                h = layer(h, mask)
            return self.classifier(torch.tanh(self.pooler(h[:, 0])))
        b, p, n = x.shape[0], cfg["patch_size"], cfg["image_size"] // cfg["patch_size"]
        c = cfg.get("num_channels", 1)
        patches = x.view(b, c, n, p, n, p).permute(0, 2, 4, 1, 3, 5).reshape(b, n * n, c * p * p)
        h = torch.cat([self.cls_token.expand(b, -1, -1), self.patch(patches)], 1) + self.positions
        for layer in self.layers:
            h = layer(h, None)
        return self.classifier(self.ln(h)[:, 0])


def measure(lora):
    torch.manual_seed(0)
    model = Encoder(8 if lora else 0)
    if lora:
        for name, p in model.named_parameters():
            p.requires_grad = "lora_" in name or name.startswith("classifier.") or name.startswith("pooler.")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.01)
    if text:
        x = torch.randint(1, cfg["vocab_size"], (batch, text_length))
    else:
        x = torch.rand(batch, cfg.get("num_channels", 1), cfg["image_size"], cfg["image_size"])
    y = torch.arange(batch) % labels

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    step()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        samples.append((time.perf_counter() - t0) / steps * 1000)
    return min(samples), statistics.median(samples)


for kind, lora in (("full", False), ("lora", True)):
    best, median = measure(lora)
    print(json.dumps({"kind": kind, "msPerStep": best, "medianMsPerStep": median, "torch": torch.__version__, "threads": torch.get_num_threads()}))
