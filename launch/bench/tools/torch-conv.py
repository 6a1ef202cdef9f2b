"""PyTorch's convolutions on the shapes of launch/bench/tools/onednn-conv.c (ResNet-20's 3x3 convolutions at
batch 64, channels-last, 2 threads): forward, and backward (data and weights together, as autograd
runs them). Its oneDNN is the one bundled with PyTorch. Used by launch/bench/onednn-versions.sh."""
import time, torch, statistics
torch.set_num_threads(2)
N=64
shapes=[(16,16,32,1,6),(16,32,32,2,1),(32,32,16,1,5),(32,64,16,2,1),(64,64,8,1,5)]
tf=tb=0.0
for C,O,H,S,count in shapes:
    conv=torch.nn.Conv2d(C,O,3,S,1,bias=False).to(memory_format=torch.channels_last)
    x=torch.randn(N,C,H,H).to(memory_format=torch.channels_last).requires_grad_(True)
    for _ in range(3):
        y=conv(x); y.backward(torch.ones_like(y))
    fw=[];bw=[]
    for _ in range(15):
        a=time.perf_counter(); y=conv(x); b=time.perf_counter()
        g=torch.ones_like(y); c=time.perf_counter(); y.backward(g); d=time.perf_counter()
        fw.append(b-a); bw.append(d-c)
    f=statistics.median(fw); bk=statistics.median(bw)
    print(f"torch {C:2d}->{O:2d} {H}x{H} s{S} fwd {f*1e3:.2f} ms  bwd(data+w) {bk*1e3:.2f} ms")
    tf+=count*f; tb+=count*bk
print(f"torch {torch.__version__} ResNet-20 3x3 convs batch {N}: fwd {tf*1e3:.1f} ms  bwd {tb*1e3:.1f} ms  sum {(tf+tb)*1e3:.1f} ms")
