"""The whole pipeline in one resumable command (``training/pipeline/cli.py``): stages as child processes."""
from .report import summary_rows, write_report
from .stages import PipelineOptions, Stage, plan, run_pipeline

__all__ = ["PipelineOptions", "Stage", "plan", "run_pipeline", "summary_rows", "write_report"]
