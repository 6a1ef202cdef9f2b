# Expected values for MetricsTests.swift. Run: python3 Tests/TrainingTests/metrics_reference.py
# Pure-Python reference for Tests/TrainingTests/MetricsTests.swift (no numpy/scipy/sklearn).
import math, struct
f32 = lambda x: struct.unpack('f', struct.pack('f', x))[0]
def cls_metrics(logits, labels, C):
    n=len(labels); t1=t5=0; nll=0.0; bins=[[0,0.0,0] for _ in range(15)]
    for i,y in enumerate(labels):
        z=logits[i]; m=max(z); s=sum(math.exp(v-m) for v in z); lse=m+math.log(s)
        rank=sum(1 for j in range(C) if z[j]>z[y] or (z[j]==z[y] and j<y))
        hit=1 if rank==0 else 0; t1+=hit; t5+= rank<5; nll+=lse-z[y]
        conf=1/s; b=min(max(math.ceil(conf*15)-1,0),14)
        edge=min(abs(conf*15-k) for k in range(16))
        assert edge>1e-4, (i, conf)
        bins[b][0]+=1; bins[b][1]+=conf; bins[b][2]+=hit
    ece=sum(abs(b[2]-b[1]) for b in bins)/n
    return t1/n, t5/n, nll/n, ece
C=7; n=50
logits=[[f32(3*math.sin(1.7*i+0.9*j*j+0.3)) for j in range(C)] for i in range(n)]
labels=[(i*5+3)%C for i in range(n)]
print("formula", ["%.17g"%v for v in cls_metrics(logits,labels,C)])
hand=[[2,1,0,0,0,0],[0,3,0,0,0,0],[0,0,0,0,0,5],[1,1,1,1,1,1]]
print("hand", ["%.17g"%v for v in cls_metrics(hand,[0,2,0,5],6)])
def ap(pos,neg):
    items=sorted([(s,1) for s in pos]+[(s,0) for s in neg], key=lambda t:-t[0])
    tp=fp=0; prev_r=0.0; out=0.0; i=0
    while i<len(items):
        j=i
        while j<len(items) and items[j][0]==items[i][0]:
            tp+=items[j][1]; fp+=1-items[j][1]; j+=1
        r=tp/len(pos); out+=(r-prev_r)*tp/(tp+fp); prev_r=r; i=j
    return out
def auroc(pos,neg):
    w=0.0
    for p in pos:
        for q in neg: w+= 1 if p>q else (0.5 if p==q else 0)
    return w/(len(pos)*len(neg))
ins=[((i*37)%23+5)/30.0 for i in range(40)]
outs=[((i*11)%17+1)/30.0 for i in range(30)]
print("ood", ["%.17g"%v for v in (auroc(ins,outs), ap(ins,outs), ap([-x for x in outs],[-x for x in ins]))])
print("small", auroc([0.9,0.8,0.4],[0.7,0.4,0.1]), ap([0.9,0.8,0.4],[0.7,0.4,0.1]), ap([-0.7,-0.4,-0.1],[-0.9,-0.8,-0.4]))
