"""The paper's published numbers, keyed by (table, zoo), for printing beside ours."""

from __future__ import annotations

import numpy as np
import pandas as pd

# The paper's Table 5 (R² or accuracy in %); its UMAP column reads as fractions, copied as printed.
_T5_COLUMNS = ["W", "PCA_l", "PCA_c", "PCA_r", "UMAP", "s(W)", "E_cD"]
PAPER = {
    ("table5", "tetris_seed"): pd.DataFrame(
        [[55.4, 46.9, 77.8, 93.5, 0.00, 96.4, 97.0], [49.1, 23.9, 74.7, 74.9, 0.01, 86.9, 90.2],
         [43.9, 28.3, 72.9, 75.7, 0.01, 81.0, 81.9], [26.6, 0.07, 52.8, 49.1, 0.02, 62.5, 70.7],
         [41.4, 30.2, 48.6, 58.6, 0.01, 63.1, 75.9], [41.5, 0.06, 38.3, 38.5, 0.01, 60.9, 69.4],
         [53.9, 44.6, 73.8, 72.2, 0.00, 75.2, 86.6]],
        index=["Eph", "Acc", "GGap", "F1_C0", "F1_C1", "F1_C2", "F1_C3"], columns=_T5_COLUMNS),
    ("table5", "tetris_hyp"): pd.DataFrame(
        [[2.8, 2.7, 0.04, 13.1, 0.03, 16.3, 16.7], [11.0, 14.0, 0.81, 73.8, 0.7, 80.2, 83.7],
         [12.9, 12.9, 0.31, 76.0, 0.3, 79.2, 81.6], [-4.7, -3.2, -1.3, -0.4, -1.4, 53.4, 51.1],
         [74.7, 72.7, 45.1, 74.2, 45.9, 73.6, 86.9], [38.5, 36.4, 32.7, 35.4, 33.6, 46.6, 47.1]],
        index=["Eph", "Acc", "GGap", "LR", "Act", "Init"], columns=_T5_COLUMNS),
    ("table1", "tetris_seed"): pd.DataFrame(
        [[np.nan, 96.7, 90.8, 67.7, 72.0, 74.4, 85.8], [96.1, 88.3, 68.9, 47.8, 57.2, 33.0, 58.1],
         [84.1, 97.0, 90.2, 70.7, 75.9, 69.4, 86.6], [95.9, 94.0, 69.9, 48.9, 58.1, 32.5, 58.8]],
        index=["E_c", "ED", "E_cD", "E_c+D"], columns=["Rec", "Eph", "Acc", "F1_C0", "F1_C1", "F1_C2", "F1_C3"]),
    ("table2", "tetris_seed"): pd.DataFrame(
        [[0.0, 80.0, 85.3, 57.3, 53.9, 64.5, 80.1], [6.8, 95.3, 71.1, 47.9, 69.0, 49.9, 61.3],
         [74.1, 95.4, 88.6, 65.6, 69.8, 69.9, 86.8], [89.4, 97.1, 88.4, 71.4, 80.8, 69.1, 82.3],
         [84.1, 97.0, 90.2, 70.7, 75.9, 69.4, 86.6]],
        index=["FF", "Att_W", "Att_W+t", "Att_N", "Att_N+t"],
        columns=["Rec", "Eph", "Acc", "F1_C0", "F1_C1", "F1_C2", "F1_C3"]),
    ("table3", "tetris_seed"): pd.DataFrame(
        [[88.1, 95.5, 89.8, 88.8, 96.1, 95.6, 89.7, 96.1], [49.2, 72.9, 67.3, 59.4, 84.1, 81.9, 65.4, 84.1],
         [86.3, 95.6, 88.5, 87.6, 95.9, 95.8, 89.0, 96.0]],
        index=["ED", "E_cD", "E_c+D"], columns=["-", "P", "E", "N", "P,E", "P,N", "E,N", "P,E,N"]),
}

# Table 4 (bottom): probes on the MNIST CNN-s zoos, R² or accuracy (Init) in %; the paper printed each
# zoo's better hyper-representation, E_c+D or E_cD. Cells copied as printed ("-34", "-06").
_T4_ROWS = ["Eph", "Acc", "GGap", "Init"]
PAPER |= {("table4", zoo): pd.DataFrame(cells, index=_T4_ROWS, columns=["W", "s(W)", z]) for zoo, z, cells in [
    ("mnist_seed", "E_c+D", [[84.5, 97.7, 97.3], [91.3, 98.7, 98.9], [56.9, 66.2, 66.7], [np.nan] * 3]),
    ("mnist_hyp_1_fix_seed", "E_cD", [[7.2, 6.2, 11.6], [73.6, 72.9, 89.5], [55.3, 42.1, 61.9], [87.7, 63.3, 75.4]]),
    ("mnist_hyp_1_rand_seed", "E_c+D", [[-34, 0.5, 4.1], [-6, 60.1, 85.7], [-36, 31.1, 54.9], [38.3, 56.1, 48.2]]),
    ("mnist_hyp_5_fix_seed", "E_cD", [[-2.7, 7.4, 10.2], [57.7, 75.1, 79.4], [37.8, 36.7, 57.7], [80.6, 54.5, 51.4]]),
    ("mnist_hyp_5_rand_seed", "E_cD", [[-14, 9.6, 7.2], [-13, 74.5, 82.5], [-3.2, 46.1, 60.5], [35.5, 47.2, 40.4]]),
]}
# Table 4 (top): weight variance, its mean within (init, activation) groups, and the reconstruction R²
# (fractions) of a reference E_c+D on the train and test splits.
PAPER_ZOO_STATISTICS = pd.DataFrame(
    [[0.234, 0.234, 0.734, 0.590], [0.155, 0.101, 0.913, 0.729], [0.152, 0.164, 0.800, 0.372],
     [0.091, 0.094, 0.813, 0.700], [0.092, 0.100, 0.656, 0.386]],
    index=["mnist_seed", "mnist_hyp_1_fix_seed", "mnist_hyp_1_rand_seed", "mnist_hyp_5_fix_seed", "mnist_hyp_5_rand_seed"],
    columns=["VAR", "VAR_c", "R_tr E_c+D", "R_tes E_c+D"],
)

# Table 6: the Unterthiner zoos (CNN-u) MNIST-HYP and FASHION-HYP, which our mnist_cnn_zoo and
# fashion_cnn_zoo regenerate; R² in % (Eph .. TF) and accuracy in % (Act, Init, Opt).
_T6_ROWS = ["Eph", "Acc", "GGap", "LR", "L2", "Drop", "TF", "Act", "Init", "Opt"]
PAPER[("table6", "mnist_cnn_zoo")] = pd.DataFrame(
    [[25.8, 33.2, 50.0], [74.7, 81.5, 94.9], [23.4, 24.4, 27.4], [29.3, 34.3, 37.1], [12.5, 16.5, 20.1],
     [28.5, 19.2, 35.8], [3.8, 7.8, 15.9], [88.6, 81.1, 88.7], [94.6, 72.0, 80.6], [76.7, 65.4, 66.4]],
    index=_T6_ROWS, columns=["W", "s(W)", "E_cD"])
PAPER[("table6", "fashion_cnn_zoo")] = pd.DataFrame(
    [[26.6, 34.6, 51.3], [70.9, 78.5, 96.2], [48.1, 41.1, 49.0], [33.5, 35.6, 42.4], [11.9, 16.3, 25.0],
     [26.7, 21.3, 38.3], [8.1, 8.2, 22.1], [89.8, 82.4, 90.1], [95.7, 76.5, 86.7], [79.9, 67.4, 73.0]],
    index=_T6_ROWS, columns=["W", "s(W)", "E_cD"])

# Table 7, the MNIST-HYP / FASHION-HYP block: GGap Kendall τ, rows fitted, columns evaluated.
PAPER[("table7", "mnist_cnn_zoo-fashion_cnn_zoo")] = pd.DataFrame(
    [[0.36, 0.29, 0.36, 0.21, 0.14, 0.27], [-0.02, 0.08, 0.02, 0.54, 0.48, 0.56]],
    index=["mnist_cnn_zoo", "fashion_cnn_zoo"],
    columns=[f"{zoo} {f}" for zoo in ("mnist_cnn_zoo", "fashion_cnn_zoo") for f in ("W", "s(W)", "E_c+D")])

# Kendall τ of test accuracy predicted from weights on the Small CNN Zoo's CIFAR10-GS, as published
# (Unterthiner et al. 2020's StatNN; Zhou et al. 2023's NFN; Kofinas et al. 2024's neural graphs):
# another zoo, quoted beside ours for orientation only.
PUBLISHED_RANK_TAU = {"StatNN": 0.915, "NFN": 0.934, "Neural Graphs": 0.935}
