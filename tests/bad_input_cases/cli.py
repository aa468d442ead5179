"""Bad inputs to the `hrlib` command itself: options, output streams, `sample`, `reproduce`."""

from tests.bad_input_cases import Case

CASES: list[Case] = []

PROBE = ("probe", "{zoo}", "--features", "", "--out", "{tmp}/t.csv")
WHOLE = "expected a whole number of at least"
SEED = "expected a whole number from 0 to 4,294,967,295"


def _notes(paths):
    (paths["tmp"] / "notes.txt").write_text("a week of notes")


# ---- the command line itself: one line, never the usage text ----
CASES += [
    Case("no command", (), "the following arguments are required: {{zoo,data,train,probe,predict,sample,reproduce}}; "
                          "see hrlib --help"),
    Case("an unknown command", ("nope",), "argument {{zoo,data,train,probe,predict,sample,reproduce}}: invalid choice: "
                                          "'nope' (choose from {any})"),
    Case("an unknown option", (*PROBE, "--bogus"), "unrecognized arguments: --bogus; see hrlib --help"),
    Case("a required option left out", ("probe", "{zoo}"),
         "the following arguments are required: --out; see hrlib probe --help"),
]

# ---- --run: each run named once, with a name and a folder ----
CASES += [
    Case("probe --run twice with one name", (*PROBE, "--run", "E_cD={run}", "--run", "E_cD={tmp}"),
         "argument --run: two runs named E_cD: {run} and {tmp}; give each its own NAME=DIR"),
    Case("probe --run of two folders of one name", (*PROBE, "--run", "{run}", "--run", "{run}/"),
         "argument --run: two runs named tiny-E_cD: {run} and {run}/; give each its own NAME=DIR"),
    Case("probe --run without a name", (*PROBE, "--run", "={run}"),
         "argument --run: '={run}' has no name before '='; give NAME=DIR, or DIR alone to name the run after its "
         "folder"),
    Case("probe --run without a folder", (*PROBE, "--run", "E_cD="),
         "argument --run: 'E_cD=' has no run directory; give NAME=DIR"),
    Case("reproduce --run twice with one name",
         ("reproduce", "table5", "{zoo}", "--run", "E_cD={run}", "--run", "E_cD={tmp}"),
         "argument --run: two runs named E_cD: {run} and {tmp}; give each its own NAME=DIR"),
    Case("reproduce --run without a folder", ("reproduce", "table5", "{zoo}", "--run", "E_cD="),
         "argument --run: 'E_cD=' has no run directory; give NAME=DIR"),
    Case("reproduce --run without a name", ("reproduce", "table5", "{zoo}", "--run", "={run}"),
         "argument --run: '={run}' has no name before '='; give NAME=DIR, or DIR alone to name the run after its "
         "folder"),
    Case("reproduce table7 --run with an empty folder between commas",
         ("reproduce", "table7", "{zoo}", "{hyp}", "--run", "E_cD={run},"),
         "--run E_cD={run},: an empty run directory between commas; give one run directory per zoo, "
         "NAME=DIR_ZOO1,DIR_ZOO2,..."),
]

# ---- numbers out of range, named by their option ----
CASES += [
    Case("probe --seeds 0", (*PROBE, "--seeds", "0"), f"argument --seeds: {WHOLE} 1, got '0'"),
    Case("probe --seeds negative", (*PROBE, "--seeds", "-2"), f"argument --seeds: {WHOLE} 1, got '-2'"),
    Case("probe --seeds not a number", (*PROBE, "--seeds", "two"), f"argument --seeds: {WHOLE} 1, got 'two'"),
    Case("probe --n-components 0", (*PROBE, "--n-components", "0"), f"argument --n-components: {WHOLE} 1, got '0'"),
    Case("probe --max-fit-rows 0", (*PROBE, "--max-fit-rows", "0"), f"argument --max-fit-rows: {WHOLE} 1, got '0'"),
    Case("probe --umap-components 0", (*PROBE, "--umap-components", "0"),
         f"argument --umap-components: {WHOLE} 1, got '0'"),
    Case("probe --split-seed negative", (*PROBE, "--split-seed", "-1"), f"argument --split-seed: {SEED}, got '-1'"),
    Case("probe --n-components more than the zoo allows",
         ("probe", "{zoo}", "--features", "PCA_l", "--targets", "Eph", "--n-components", "100000",
          "--out", "{tmp}/t.csv"),
         "PCA cannot be fitted on this zoo with --n-components 100000 ({any}); choose fewer components"),
    Case("train --seeds 0", ("train", "{zoo}", "--out", "{tmp}/run", "--seeds", "0"),
         f"argument --seeds: {WHOLE} 1, got '0'"),
    Case("zoo create --cpus-per-task 0",
         ("zoo", "create", "tetris_seed", "--out", "{tmp}/zoo", "--ray", "--cpus-per-task", "0"),
         f"argument --cpus-per-task: {WHOLE} 1, got '0'"),
    Case("zoo create --retries negative", ("zoo", "create", "tetris_seed", "--out", "{tmp}/zoo", "--retries", "-1"),
         f"argument --retries: {WHOLE} 0, got '-1'"),
    Case("sample --n 1", ("sample", "{run}", "{zoo}", "--n", "1"), f"argument --n: {WHOLE} 2, got '1'"),
    Case("sample --epochs negative", ("sample", "{run}", "{zoo}", "--epochs", "-1"),
         f"argument --epochs: {WHOLE} 0, got '-1'"),
    Case("sample --epoch negative", ("sample", "{run}", "{zoo}", "--epoch", "-1"),
         f"argument --epoch: {WHOLE} 0, got '-1'"),
    Case("sample --epoch the zoo does not keep", ("sample", "{run}", "{zoo}", "--epoch", "99"),
         "the zoo has no checkpoints at epoch 99; it keeps [0, 1, 2, 3, 4, 5]"),
    Case("sample --top 0", ("sample", "{run}", "{zoo}", "--top", "0"),
         "argument --top: expected a fraction in (0, 1] such as 0.3, got '0'"),
    Case("sample --top nan", ("sample", "{run}", "{zoo}", "--top", "nan"),
         "argument --top: expected a fraction in (0, 1] such as 0.3, got 'nan'"),
    Case("sample --bandwidth 0", ("sample", "{run}", "{zoo}", "--bandwidth", "0"),
         "argument --bandwidth: expected a number above 0 such as 0.1, got '0'"),
    Case("sample --bandwidth inf", ("sample", "{run}", "{zoo}", "--bandwidth", "inf"),
         "argument --bandwidth: expected a number above 0 such as 0.1, got 'inf'"),
    Case("sample --seed negative", ("sample", "{run}", "{zoo}", "--seed", "-1"), f"argument --seed: {SEED}, got '-1'"),
    Case("reproduce --seeds 0", ("reproduce", "table5", "{zoo}", "--seeds", "0"),
         f"argument --seeds: {WHOLE} 1, got '0'"),
    Case("reproduce --epochs 0", ("reproduce", "table1", "{zoo}", "--train", "--epochs", "0", "--runs-dir", "{tmp}"),
         f"argument --epochs: {WHOLE} 1, got '0'"),
]

# ---- lists of names ----
CASES += [
    Case("probe --targets naming one twice", (*PROBE, "--targets", "Eph,Acc,Eph"),
         "argument --targets: names Eph twice, in 'Eph,Acc,Eph'"),
    Case("probe --targets naming one property by its label and its column",
         ("probe", "{zoo}", "--features", "W", "--targets", "Eph,epoch", "--out", "{tmp}/t.csv"),
         "--targets names the property epoch twice (Eph and epoch); give it once"),
    Case("probe --targets naming none", (*PROBE, "--targets", ","),
         "argument --targets: names no property, got ','; leave the option out for the default"),
    Case("reproduce --features naming none", ("reproduce", "table5", "{zoo}", "--features", ""),
         "argument --features: names no feature set, got ''; leave the option out for the default"),
]

# ---- reproduce: the zoos and runs a table needs, the paper's zoo, a Markdown results file ----
CASES += [
    Case("reproduce table7 of one zoo", ("reproduce", "table7", "{zoo}"),
         "table7 transfers probes between zoos: give two or more zoo directories, got only {zoo}"),
    Case("reproduce table7 of one zoo twice", ("reproduce", "table7", "{zoo}", "{zoo}"),
         "table7: {zoo} is given twice; give each zoo once"),
    Case("reproduce table5 of two zoos", ("reproduce", "table5", "{zoo}", "{hyp}"),
         "table5 reads one zoo, got 2: {zoo} {hyp}"),
    Case("reproduce table3 without runs", ("reproduce", "table3", "{zoo}"),
         "table3 compares hyper-representations: give them with --run NAME=DIR, or add --train to train them"),
    Case("reproduce recipe without runs", ("reproduce", "recipe", "{zoo}"),
         "recipe compares runs of one zoo: give each with --run NAME=DIR"),
    Case("reproduce --paper of no paper zoo", ("reproduce", "table5", "{zoo}", "--paper", "tetris_seeds"),
         "--paper tetris_seeds: not one of the paper's zoos; known: {any}"),
    Case("reproduce --results onto a file of notes", ("reproduce", "table5", "{zoo}", "--results", "{tmp}/notes.txt"),
         "--results {tmp}/notes.txt: not a Markdown file (.md); hrlib rewrites a section of it, so name a Markdown "
         "file such as docs/results.md", _notes),
]
CASES += [
    Case("reproduce table5 --target", ("reproduce", "table5", "{zoo}", "--target", "Acc"),
         "--target chooses table7's target; table5 scores its own, so leave --target out"),
    Case("reproduce table5 --train", ("reproduce", "table5", "{zoo}", "--train", "--runs-dir", "{tmp}"),
         "--train trains the runs of tables 1-3; table5 reads runs given with --run"),
    Case("reproduce --epochs without --train", ("reproduce", "table1", "{zoo}", "--run", "E_cD={run}", "--epochs", "3"),
         "--epochs sets the training that --train starts; add --train, or leave --epochs out"),
    Case("reproduce rank --no-peers --epochs", ("reproduce", "rank", "{zoo}", "--no-peers", "--epochs", "3"),
         "--epochs sets the training of rank's NFN predictors, which --no-peers leaves out; leave out one of them"),
    Case("reproduce table5 --protocol", ("reproduce", "table5", "{zoo}", "--protocol", "nfn"),
         "--protocol sets up the ranking benchmark; table5 has no use for it"),
    Case("reproduce rank --row-order without --protocol nfn",
         ("reproduce", "rank", "{zoo}", "--row-order", "{tmp}/o.csv"),
         "--row-order orders the Small CNN Zoo's rows for --protocol nfn; add it, or leave --row-order out"),
    Case("reproduce rank --protocol nfn with a run", ("reproduce", "rank", "{zoo}", "--protocol", "nfn", "--run",
                                                      "E_cD={run}"),
         "--protocol nfn ranks on the Small CNN Zoo's own split, which no hyper-representation is trained on; leave "
         "--run out, or rank runs with the hrlib protocol"),
    Case("reproduce rank --protocol nfn of a zoo not imported from the Small CNN Zoo",
         ("reproduce", "rank", "{zoo}", "--protocol", "nfn", "--no-peers"),
         "the NFN protocol orders models by their row in the Small CNN Zoo's weights.npy, which `hrlib zoo import "
         "unterthiner` records as source_row; this zoo has none (import it again)"),
]

# ---- output files: never inside a zoo, run or probe folder, never one file for two outputs ----
CASES += [
    Case("probe --out onto a zoo's manifest",
         ("probe", "{zoo}", "--features", "W", "--targets", "Eph", "--out", "{zoo}/manifest.json"),
         "{zoo}/manifest.json: inside {zoo}, an hrlib zoo folder, where hrlib writes nothing else; choose another "
         "--out"),
    Case("probe --out and --predictions one file",
         ("probe", "{zoo}", "--features", "W", "--targets", "Eph", "--out", "{tmp}/t.csv",
          "--predictions", "{tmp}/t.csv"),
         "{tmp}/t.csv: named by both --out and --predictions; give each its own file"),
    Case("probe --out inside --save",
         ("probe", "{zoo}", "--run", "E_cD={run}", "--features", "", "--out", "{tmp}/saved/t.csv",
          "--save", "{tmp}/saved"),
         "{tmp}/saved/t.csv: --out inside --save {tmp}/saved; choose another --out"),
    Case("sample --out inside a run", ("sample", "{run}", "{zoo}", "--out", "{run}/samples.csv"),
         "{run}/samples.csv: inside {run}, an hrlib run folder, where hrlib writes nothing else; choose another --out"),
    Case("predict --out inside a probe folder", ("predict", "{run}", "{probes}", "{zoo}", "--out", "{probes}/p.csv"),
         "{probes}/p.csv: inside {probes}, an hrlib probes folder, where hrlib writes nothing else; choose another "
         "--out"),
    Case("reproduce --results inside a zoo", ("reproduce", "table5", "{zoo}", "--results", "{zoo}/results.md"),
         "{zoo}/results.md: inside {zoo}, an hrlib zoo folder, where hrlib writes nothing else; choose another "
         "--results"),
]
CASES += [
    Case("a value that starts with '-'", ("train", "{zoo}", "--out", "{tmp}/run", "--split", "-0.5,1,0.5"),
         "argument --split: expected one argument; a value that starts with '-' is given as --split=VALUE"),
]
CASES += [
    Case("data add a file", ("data", "add", "{tmp}/notes.txt"),
         "{tmp}/notes.txt: is a file, not a folder; give the folder that holds the IDX files", _notes),
]


def _link_to_manifest(paths):
    (paths["tmp"] / "link.csv").symlink_to(paths["zoo"] / "manifest.json")


CASES += [
    Case("probe --out a device", ("probe", "{zoo}", "--features", "W", "--targets", "Eph", "--out", "/dev/full"),
         "/dev/full: not a regular file (a device, pipe or socket); name a file"),
    Case("probe --out a symlink into a zoo",
         ("probe", "{zoo}", "--features", "W", "--targets", "Eph", "--out", "{tmp}/link.csv"),
         "{tmp}/link.csv: inside {zoo}, an hrlib zoo folder, where hrlib writes nothing else; choose another --out",
         _link_to_manifest),
]
