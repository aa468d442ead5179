"""The paper's tables recomputed on hrlib's zoos (`tables`, behind `hrlib reproduce`), the ranking benchmark of
later work (`ranking`), and the published numbers (`numbers`)."""
