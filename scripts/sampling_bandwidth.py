"""How wide may the kernel be before decoded samples stop being networks?

    python scripts/sampling_bandwidth.py RUN_DIR ZOO_DIR [--n 20] [--bandwidths 0.03,0.1,0.3,0.6,1] [--components 5,10,20,40]

`hrlib sample` draws z from a Gaussian kernel density over the z of the best training checkpoints
(the anchors) and decodes them. This measures, without any training, the test accuracy of networks
decoded from such samples: first with the bandwidth cross-validation chooses and with each given
one, on z standardized per dimension as `hrlib sample` does; then with the kernel fitted in the
anchors' leading principal components (whitened), each at its cross-validated bandwidth, which
keeps samples inside the span the anchors fill. A row per density: mean and sd over the networks.
"""

import argparse

import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity

from hrlib import load_zoo
from hrlib.evaluate.features import flat_rows
from hrlib.evaluate.networks import evaluate_weights
from hrlib.hyper.inference import decode, embed_weights
from hrlib.hyper.runs import load_run
from hrlib.hyper.sampling import BANDWIDTHS, anchor_rows, sample_networks


def accuracy(zoo, weights, rows) -> str:
    acc = evaluate_weights(zoo, weights, rows)["test_acc"].to_numpy() * 100
    return f"{acc.mean():5.1f} ± {acc.std(ddof=1):4.1f}"


def in_components(run, z: np.ndarray, anchors: np.ndarray, k: int, n: int, seed: int):
    """n networks decoded from a kernel density in the first k whitened principal components of the anchors'
    z (anchors, latent): its bandwidth, the weights and each sample's nearest anchor row."""
    pca = PCA(k, whiten=True, random_state=seed)
    scores = pca.fit_transform(z)
    search = GridSearchCV(KernelDensity(), {"bandwidth": BANDWIDTHS}, cv=min(5, len(anchors))).fit(scores)
    bandwidth = float(search.best_params_["bandwidth"])
    drawn = KernelDensity(bandwidth=bandwidth).fit(scores).sample(n, random_state=seed)
    nearest = anchors[((scores[None] - drawn[:, None]) ** 2).sum(-1).argmin(1)]
    return bandwidth, decode(run, pca.inverse_transform(drawn)), nearest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("zoo")
    parser.add_argument("--n", type=int, default=20, help="networks per density")
    parser.add_argument("--top", type=float, default=0.3, help="fraction of the last epoch's training checkpoints")
    parser.add_argument("--bandwidths", default="0.03,0.1,0.3,0.6,1", help="in sd of z")
    parser.add_argument("--components", default="5,10,20,40", help="principal components of the anchors' z")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    zoo, run = load_zoo(args.zoo), load_run(args.run_dir)
    print(f"test accuracy in %, mean ± sd over {args.n} decoded networks, untrained")
    for bandwidth in [None, *map(float, args.bandwidths.split(","))]:
        samples = sample_networks(run, zoo, args.n, top=args.top, seed=args.seed, bandwidth=bandwidth)
        how = "cross-validated" if bandwidth is None else "given"
        print(f"z, {len(samples.anchors)} anchors, bandwidth {samples.bandwidth:.3g} sd ({how}): "
              f"{accuracy(zoo, samples.weights, samples.nearest)}")
    split = zoo.split(run.config.split_fractions, run.config.split_seed)
    anchors, _ = anchor_rows(zoo, split.train, top=args.top)
    z = embed_weights(run, flat_rows(zoo, anchors))
    for k in map(int, args.components.split(",")):
        if k >= len(anchors):
            print(f"{k} components: skipped, the density has only {len(anchors)} anchors")
            continue
        bandwidth, weights, nearest = in_components(run, z, anchors, k, args.n, args.seed)
        print(f"{k} principal components, bandwidth {bandwidth:.3g} sd (cross-validated): "
              f"{accuracy(zoo, weights, nearest)}")


if __name__ == "__main__":
    main()
