"""What a zoo's weights reveal: feature sets, linear probes, their tables, and networks rebuilt from weights.

- `features`: the feature sets W, s(W), s_U(W), kernel PCA, UMAP and z of a trained run;
- `probes`: scikit-learn probes (ridge, logistic) with validation-chosen regularization;
- `tables`: every target × feature set probed on a zoo's split, and out-of-distribution transfer;
- `networks`: flat weight vectors evaluated as the networks they are;
- `peers`: neural functionals (NFN_NP, NFN_HNP) trained to predict accuracy, with the optional nfn package.
"""
