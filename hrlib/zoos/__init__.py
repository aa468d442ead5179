"""Model zoos: populations of small networks of one architecture, every epoch's weights kept.

- `layout`: where each weight of an architecture sits in the flat vector (`Layout`);
- `architectures`: the zoo networks (tetris and digits MLPs, CNN-s, CNN-u), their forwards and inits;
- `population`: the vectorized trainer of many models in lockstep;
- `zoo`: the `Zoo` type and its on-disk format (`load_zoo`);
- `presets`: the catalogue of named zoo recipes; `build`: building one, resumably;
- `cluster`: the same build with its shards on a Ray cluster;
- `checkpoints`: reading checkpoint files, each checked for what it claims to be (importers, `hrlib predict`);
- `importers`: zoos in other formats (Unterthiner et al., Model Zoos, folders of state_dicts);
- `summary`: a zoo described in a few lines.
"""
