"""Runs several exported PyTorch recipes in one Python process (torch is imported once, which is most of a
short run's cost): argv is RECIPE OUT RECIPE OUT ... Under torchrun the process group is joined here once and
every recipe's train.py main() runs in it."""
import importlib.util
import os
import sys

import torch.distributed as dist

pairs = list(zip(sys.argv[1::2], sys.argv[2::2]))
spec = importlib.util.spec_from_file_location('recipe_train', os.path.join(pairs[0][0], 'train.py'))
train = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train)
if int(os.environ.get('WORLD_SIZE', '1')) > 1:
    dist.init_process_group('gloo')
for recipe, out in pairs:
    train.main(['--recipe', recipe, '--out', out, '--device', 'cpu'])
if dist.is_initialized():
    dist.destroy_process_group()
