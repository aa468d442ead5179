"""The paper's tables recomputed on hrlib's zoos (`tables`, behind `hrlib reproduce`), beside its numbers (`numbers`)."""
