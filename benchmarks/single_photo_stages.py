"""One 1080p portrait through the engine in bf16 with compile=True: seconds per stage.

Run as it was for benchmarks/RESULTS.md (the figures there): .venv/bin/python benchmarks/single_photo_stages.py
Random weights at real size; the detector runs for real and reports one centred face (see end_to_end.py).
The second block wraps the detector in a dynamic-shape compile itself; the RESULTS.md figures come
from it. (When the figures were taken, the engine's compile=True did not yet cover the detector, so
the first block showed detect ~1.2 s; the engine now compiles the detector the same way.)
"""
import sys, time, warnings, torch, cv2, numpy as np
from pathlib import Path
sys.path[:0]=[str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]
from end_to_end import CentredFaceDetector
from gpen import registry
from gpen.arch import build_generator
from gpen.detection import FaceDetector, build_retinaface
from gpen.parsing import FaceParser, build_parsenet
from gpen.engine import Engine, EngineConfig
from facexlib.detection.retinaface import RetinaFace
from facexlib.parsing.parsenet import ParseNet
torch.manual_seed(0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore"); rf=RetinaFace(network_name="resnet50", device="cpu")
restorer=build_generator(registry.get_spec("GPEN-BFR-512").config).eval().requires_grad_(False)
pn=ParseNet(in_size=512,out_size=512,parsing_ch=19)
img=cv2.imread(str(Path(__file__).resolve().parents[1] / 'tests/data/photos/portrait_png.png'))[:, :, ::-1]
s=1080/min(img.shape[:2]); img=np.ascontiguousarray(cv2.resize(img,(round(img.shape[1]*s),round(img.shape[0]*s))))
print(img.shape)
for prec in ['bf16']:
    dt=torch.bfloat16
    e=Engine(EngineConfig(device='cpu',precision=prec,batch_size=1,compile=True), restorer=restorer,
             detector=CentredFaceDetector(FaceDetector(build_retinaface(rf.state_dict()), torch.device('cpu'), dt)),
             parser=FaceParser(build_parsenet(pn.state_dict()), torch.device('cpu'), dt))
    e.enhance_one(img)
    for _ in range(1):
        t=time.perf_counter(); r=e.enhance_one(img); print(prec, round(time.perf_counter()-t,2), {k:round(v,3) for k,v in r.seconds.items()})
from gpen.acceleration import CompiledModule
det=FaceDetector(CompiledModule(build_retinaface(rf.state_dict()), dynamic=True), torch.device('cpu'), torch.bfloat16)
e2=Engine(EngineConfig(device='cpu',precision='bf16',batch_size=1,compile=True), restorer=restorer,
          detector=CentredFaceDetector(det), parser=FaceParser(build_parsenet(pn.state_dict()), torch.device('cpu'), torch.bfloat16))
t=time.perf_counter(); e2.enhance_one(img); print('first (compiles)', round(time.perf_counter()-t,1))
other=np.ascontiguousarray(cv2.resize(img,(1200,900)))
t=time.perf_counter(); e2.enhance_one(other); print('other size first', round(time.perf_counter()-t,1))
for im in [img, other, img]:
    t=time.perf_counter(); r=e2.enhance_one(im); print('dyn det', im.shape, round(time.perf_counter()-t,2), {k:round(v,3) for k,v in r.seconds.items()})
