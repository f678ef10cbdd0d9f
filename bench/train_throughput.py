"""Reference for bench/train_throughput: the same model, task and optimiser
in PyTorch eager (Debian's python3-torch, the same LibTorch version).

Prints one line: JSON with tokens_per_second and the final loss.
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

with open(sys.argv[1]) as f:
    args = json.load(f)
torch.set_num_threads(args["threads"])
torch.manual_seed(0)
D, H, LAYERS, V = args["d_model"], args["num_heads"], args["num_layers"], args["vocab"]
K = D // H
CHUNK = 64


def l2n(x):
    return x * torch.rsqrt(x.pow(2).sum(-1, keepdim=True) + 1e-6)


def delta_rule_chunkwise(q, k, v, beta, c):
    B, Hh, L, Kd = q.shape
    Vd = v.shape[-1]
    c = min(c, L)
    pad = (c - L % c) % c
    if pad:
        q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
        beta = F.pad(beta, (0, pad))
    N = q.shape[2] // c
    q, k, v = (t.reshape(B, Hh, N, c, -1) for t in (q, k, v))
    beta = beta.reshape(B, Hh, N, c, 1)
    kb = k * beta
    strict = torch.ones(c, c, dtype=torch.bool).triu(0)
    A = (kb @ k.transpose(-1, -2)).masked_fill(strict, 0)
    X = torch.linalg.solve_triangular(A + torch.eye(c), torch.cat([v * beta, kb], -1), upper=False,
                                      left=True, unitriangular=True)
    U, W = X[..., :Vd], X[..., Vd:]
    attn = (q @ k.transpose(-1, -2)).masked_fill(torch.ones(c, c, dtype=torch.bool).triu(1), 0)
    S = q.new_zeros(B, Hh, Kd, Vd)
    out = []
    for n, (u, w, qn, an, kn) in enumerate(zip(U.unbind(2), W.unbind(2), q.unbind(2), attn.unbind(2), k.unbind(2))):
        vn = u - w @ S
        out.append(qn @ S + an @ vn)
        S = S + kn.transpose(-1, -2) @ vn
    return torch.stack(out, 2).flatten(2, 3)[:, :, :L]


class RMSNorm(torch.nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class ShortConv(torch.nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = torch.nn.Conv1d(ch, ch, 4, groups=ch, bias=False)

    def forward(self, x):
        return F.silu(self.conv(F.pad(x.transpose(1, 2), (3, 0))).transpose(1, 2))


class DeltaNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        lin = lambda o: torch.nn.Linear(D, o, bias=False)
        self.q_proj, self.k_proj, self.v_proj, self.b_proj, self.o_proj = lin(D), lin(D), lin(D), lin(H), lin(D)
        self.q_conv, self.k_conv, self.v_conv = ShortConv(D), ShortConv(D), ShortConv(D)
        self.o_norm = RMSNorm(K, 1e-5)

    def forward(self, x):
        B, L, _ = x.shape
        split = lambda t: t.view(B, L, H, K).transpose(1, 2)
        q = l2n(split(self.q_conv(self.q_proj(x)))) / math.sqrt(K)
        k = l2n(split(self.k_conv(self.k_proj(x))))
        v = split(self.v_conv(self.v_proj(x)))
        beta = torch.sigmoid(self.b_proj(x)).transpose(1, 2)
        o = self.o_norm(delta_rule_chunkwise(q, k, v, beta, CHUNK))
        return self.o_proj(o.transpose(1, 2).reshape(B, L, D))


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        hidden = (8 * D // 3 + 31) // 32 * 32
        self.embed = torch.nn.Embedding(V, D)
        self.mixers = torch.nn.ModuleList([DeltaNet() for _ in range(LAYERS)])
        self.gate_up = torch.nn.ModuleList([torch.nn.Linear(D, 2 * hidden, bias=False) for _ in range(LAYERS)])
        self.down = torch.nn.ModuleList([torch.nn.Linear(hidden, D, bias=False) for _ in range(LAYERS)])
        self.n1 = torch.nn.ModuleList([RMSNorm(D, 1e-6) for _ in range(LAYERS)])
        self.n2 = torch.nn.ModuleList([RMSNorm(D, 1e-6) for _ in range(LAYERS)])
        self.final = RMSNorm(D, 1e-6)
        self.head = torch.nn.Linear(D, V, bias=False)

    def forward(self, x):
        h = self.embed(x)
        for m, gu, dn, n1, n2 in zip(self.mixers, self.gate_up, self.down, self.n1, self.n2):
            h = h + m(n1(h))
            g, u = gu(n2(h)).chunk(2, -1)
            h = h + dn(F.silu(g) * u)
        return self.head(self.final(h))


model = Model()
decay = [p for p in model.parameters() if p.dim() >= 2]
no_decay = [p for p in model.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=args["lr"], betas=(0.9, 0.95))
data = torch.tensor(args["inputs"], dtype=torch.long)
targets = torch.tensor(args["targets"], dtype=torch.long)
steps, batch = args["steps"], args["batch_size"]
warm = max(1, int(0.1 * steps))
gen = torch.Generator().manual_seed(0)
import time
start = time.perf_counter()
loss_value = 0.0
for step in range(steps):
    lr = args["lr"] * (step + 1) / warm if step < warm else args["lr"] * (
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, steps - warm)))))
    for g in opt.param_groups:
        g["lr"] = lr
    idx = torch.randint(0, data.shape[0], (batch,), generator=gen)
    x, y = data[idx], targets[idx]
    opt.zero_grad()
    loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1), ignore_index=-100)
    loss_value = loss.item()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
elapsed = time.perf_counter() - start
print(json.dumps({"tokens_per_second": steps * batch * data.shape[1] / elapsed, "seconds": elapsed,
                  "final_loss": loss_value}))
