"""A character-level MLP language model in the style of a well-known teaching series: a context window
dataset built with lists, an embedding table indexed by tensors, tanh hidden layer, F.cross_entropy, a
hand-written SGD loop with a learning-rate decay, then sampling names with torch.multinomial and a Generator.
The samples come from each library's own generator: they are checked to be valid names, not compared."""
import json

import numpy as np
import torch
import torch.nn.functional as F

# tolerance: 2e-4 1e-5
words = ["emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia", "harper", "evelyn",
         "abigail", "emily", "elizabeth", "mila", "ella", "avery", "sofia", "camila", "aria", "scarlett"]
chars = sorted(set("".join(words)))
stoi = {s: i + 1 for i, s in enumerate(chars)}
stoi["."] = 0
itos = {i: s for s, i in stoi.items()}
vocab = len(stoi)
block_size = 3


def build_dataset(words):
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    return torch.tensor(X), torch.tensor(Y)


Xtr, Ytr = build_dataset(words)
rng = np.random.default_rng(4)
C = torch.tensor(rng.standard_normal((vocab, 10)), dtype=torch.float32)
W1 = torch.tensor(rng.standard_normal((30, 64)) * 0.2, dtype=torch.float32)
b1 = torch.tensor(rng.standard_normal(64) * 0.01, dtype=torch.float32)
W2 = torch.tensor(rng.standard_normal((64, vocab)) * 0.01, dtype=torch.float32)
b2 = torch.zeros(vocab)
parameters = [C, W1, b1, W2, b2]
print(sum(p.nelement() for p in parameters), "parameters")
for p in parameters:
    p.requires_grad = True

lossi = []
for i in range(300):
    ix = torch.arange(i * 16, i * 16 + 16) % Xtr.shape[0]
    emb = C[Xtr[ix]]
    h = torch.tanh(emb.view(-1, 30) @ W1 + b1)
    logits = h @ W2 + b2
    loss = F.cross_entropy(logits, Ytr[ix])
    for p in parameters:
        p.grad = None
    loss.backward()
    lr = 0.1 if i < 200 else 0.01
    for p in parameters:
        p.data += -lr * p.grad
    lossi.append(loss.log10().item())

with torch.no_grad():
    emb = C[Xtr]
    h = torch.tanh(emb.view(-1, 30) @ W1 + b1)
    full_loss = F.cross_entropy(h @ W2 + b2, Ytr).item()

g = torch.Generator().manual_seed(2147483647 + 10)
names = []
for _ in range(5):
    out, context = [], [0] * block_size
    while True:
        emb = C[torch.tensor([context])]
        h = torch.tanh(emb.view(1, -1) @ W1 + b1)
        probs = F.softmax(h @ W2 + b2, dim=1)
        ix = torch.multinomial(probs, num_samples=1, generator=g).item()
        context = context[1:] + [ix]
        if ix == 0 or len(out) > 30:
            break
        out.append(ix)
    names.append("".join(itos[i] for i in out))
print(names)
assert all(set(name) <= set(chars) for name in names)
print("RESULT " + json.dumps({"loss_log10": lossi[::30], "full_loss": full_loss}))
