"""Runs several exported PyTorch recipes in one Python process (torch is imported once, which is most of a
short run's cost): argv is RECIPE OUT FLAGS RECIPE OUT FLAGS ..., FLAGS being extra train.py flags joined by
commas ('-' for none). Under torchrun the process group is joined here once and every run's main() uses it."""
import importlib.util
import os
import sys

import torch.distributed as dist

runs = list(zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]))
spec = importlib.util.spec_from_file_location('recipe_train', os.path.join(runs[0][0], 'train.py'))
train = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train)
if int(os.environ.get('WORLD_SIZE', '1')) > 1:
    dist.init_process_group('gloo')
for recipe, out, flags in runs:
    train.main(['--recipe', recipe, '--out', out, '--device', 'cpu'] + ([] if flags == '-' else flags.split(',')))
if dist.is_initialized():
    dist.destroy_process_group()
