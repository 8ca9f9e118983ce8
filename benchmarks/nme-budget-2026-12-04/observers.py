"""Does another activation observer or a larger calibration set shrink the TFLite int8 drop?
The exporter's PT2E graph in torch (quant_debug.Debugger), on one thread, with litert-torch's
HistogramObserver (the default) or MinMaxObserver for activations, on 200 or 1,000 calibration
crops (seed 0). Chosen on the validation drop; the test-list drop is recorded beside it.

    EDGEMARK_DATA=... python benchmarks/nme-budget-2026-12-04/observers.py   # writes runs/qexp/observers.json
"""
import dataclasses, json, time, numpy as np, torch
import edgemark.export.quant_debug as qd
from edgemark.predictors import load_predictor
from edgemark.data.lists import read_list
from edgemark.checkpoint import load_checkpoint
from edgemark.export.calibration import calibration_crops
from edgemark.evaluate import crop_list
from edgemark.export.quant_debug import validation_set, ValidationSet, graph_predict
torch.set_num_threads(1)
D='/work/shared/datasets/cuhk_facepoint/'
ref=load_predictor('exported/mobilenetv2_96/torch-fp32')
state=load_checkpoint('exported/mobilenetv2_96/torch-fp32/model.pt')
train=read_list(D+'trainImageList.txt')
val=validation_set(train,state,ref.crop,ref.scheme.interocular)
test=read_list(D+'testImageList.txt'); tc,tm=crop_list(test,ref.crop)
tset=ValidationSet(tc,tm,np.stack([r.landmarks for r in test.records]),tuple(ref.scheme.interocular))
pt2e=__import__('litert_torch.quantize.pt2e_quantizer',fromlist=['x'])
from torchao.quantization.pt2e.observer import MinMaxObserver, HistogramObserver, MovingAverageMinMaxObserver
orig=qd.int8_quantizer
def make(obs):
    def int8_quantizer(float_layers=()):
        q=orig(float_layers)
        cfg=q.global_config
        spec=dataclasses.replace(cfg.input_activation, observer_or_fake_quant_ctr=obs.with_args(eps=2**-12))
        q.set_global(dataclasses.replace(cfg, input_activation=spec, output_activation=spec))
        return q
    return int8_quantizer
res=[]
for obsname,obs in (('histogram',HistogramObserver),('minmax',MinMaxObserver)):
    for n in (200,1000):
        t=time.time()
        qd.int8_quantizer=make(obs)
        calib,_=calibration_crops(train,ref.crop,n,0)
        dbg=qd.Debugger(ref.model,ref.crop,calib,val)
        tf=tset.nme(graph_predict(dbg.fp32,tc,ref.crop),96); ti=tset.nme(graph_predict(dbg.int8,tc,ref.crop),96)
        r=dict(observer=obsname,calib=n,val_fp32=dbg.fp32_nme*100,val_drop=dbg.drop_pp(()),test_fp32=tf*100,test_drop=(ti-tf)*100,
               head_float_val_drop=dbg.drop_pp(['head.fc']),s=time.time()-t)
        print(json.dumps(r),flush=True); res.append(r)
json.dump(res,open('runs/qexp/observers.json','w'),indent=1)
