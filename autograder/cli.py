"""The `dscourse` command: instructor and student entry points of the autograder (thin wrappers over the API).

    dscourse --help            every subcommand, with examples
    dscourse init COURSE       an nbgrader course directory for this repo's labs
    dscourse release LAB       the student version (no solutions, no hidden tests)
    dscourse grade LAB         grade every submission, in parallel, into the gradebook and grades.csv
    dscourse feedback LAB      per-student HTML feedback
    dscourse check NOTEBOOK    a student's own check: visible tests, per-task table with hints
    dscourse progress          the learning path and the learner's status per lab
Errors are printed as one line ("dscourse: error: ...") with exit code 2; `grade` exits 1 when any submission
did not finish normally (timeout, memory, dead kernel, invalid notebook, ...).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO_LABS = Path(__file__).resolve().parents[1] / "labs"

DESCRIPTION = """\
Grade the dslib course labs with nbgrader + papermill: sandboxed, parallel, no hidden test ever shown.

Instructor, from a fresh clone:
  dscourse init ~/course                    # nbgrader course dir; source/ links to this repo's labs/
  cd ~/course
  dscourse release 01-autograd              # release/01-autograd/: no solutions, no hidden tests
  # collect submissions into submitted/<student>/01-autograd/ (nbgrader collect / zip_collect, or copy)
  dscourse grade 01-autograd --workers 4    # gradebook + autograded/ + grades.csv + summary
  dscourse feedback 01-autograd             # feedback/<student>/01-autograd/<notebook>.html
  nbgrader formgrader / jupyter lab         # review or override scores as usual

Student or self-paced learner:
  dscourse check autograd.ipynb             # visible tests only; per-task table with hints
  dscourse progress                         # learning path with your status per lab

grades.csv status: graded (failed tests still score 0 for them), timeout, memory, dead-kernel, output-limit,
invalid-notebook, error. Exit codes: 0 done; 1 `grade` finished but some submission was not graded normally;
2 usage or tool error (one line on stderr; DSCOURSE_DEBUG=1 shows the traceback).
"""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("dscourse: interrupted (staged results are kept; rerun to resume)", file=sys.stderr)
        return 130
    except Exception as e:  # one clear line, never a traceback (DSCOURSE_DEBUG=1 shows it)
        if os.environ.get("DSCOURSE_DEBUG"):
            raise
        print(f"dscourse: error: {_one_line(e)}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dscourse", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    def command(name, func, help, example):
        c = sub.add_parser(name, help=help, description=f"{help}\n\nexample:\n  {example}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
        c.set_defaults(func=func)
        return c

    def course_dir(c):
        c.add_argument("--course-dir", type=Path, default=None,
                       help="the course directory (default: the one containing the current directory)")  # fmt: skip

    c = command("init", cmd_init, "create an nbgrader course directory whose source/ links to the labs",
                "dscourse init ~/course   # then: cd ~/course && dscourse release 01-autograd")  # fmt: skip
    c.add_argument("course", type=Path, help="the course directory to create (may exist)")
    c.add_argument("--labs", type=Path, default=REPO_LABS, help=f"the labs directory (default: {REPO_LABS})")

    c = command("release", cmd_release, "release a lab: student version without solutions or hidden tests",
                "dscourse release 01-autograd   # writes release/01-autograd/ and the lab's cells into the gradebook")  # fmt: skip
    c.add_argument("lab", help="the lab id (its directory name, e.g. 01-autograd)")
    course_dir(c)

    c = command("grade", cmd_grade, "grade every submission of a lab into the gradebook and grades.csv",
                "dscourse grade 01-autograd --workers 4   # a rerun grades only new or changed submissions")  # fmt: skip
    c.add_argument("lab", help="the lab id")
    c.add_argument("--submissions", type=Path, default=None,
                   help="folder of <student>/<LAB>/<notebook>.ipynb (default: COURSE/submitted)")  # fmt: skip
    c.add_argument("--workers", type=int, default=1, help="submissions graded in parallel (default 1)")
    c.add_argument("--out", type=Path, default=None, help="grades CSV to write (default: COURSE/grades.csv)")
    c.add_argument("--force", action="store_true", help="regrade every submission, even those already graded")
    course_dir(c)

    c = command("feedback", cmd_feedback, "write per-student HTML feedback for a graded lab",
                "dscourse feedback 01-autograd   # feedback/<student>/01-autograd/<notebook>.html")  # fmt: skip
    c.add_argument("lab", help="the lab id")
    course_dir(c)

    c = command("check", cmd_check, "check your own notebook against its visible tests (hints per task)",
                "dscourse check autograd.ipynb   # exit code 0 even when tasks fail")  # fmt: skip
    c.add_argument("notebook", type=Path, help="your notebook")

    c = command("progress", cmd_progress, "show the learning path and your status per lab",
                "dscourse progress   # status file: ~/.dscourse/progress.json (or $DSCOURSE_PROGRESS)")  # fmt: skip
    c.add_argument("--labs", type=Path, default=REPO_LABS, help=f"the labs directory (default: {REPO_LABS})")
    return p


def cmd_init(args) -> int:
    from autograder.course import init_course

    course = init_course(args.course, args.labs)
    print(f"course directory ready: {course.root} (source -> {args.labs.resolve()})")
    print(f"next: cd {course.root} && dscourse release LAB")
    return 0


def cmd_release(args) -> int:
    from autograder.course import find_course_dir, release_lab

    released = release_lab(find_course_dir(args.course_dir), args.lab)
    print(f"released {args.lab}: {released.notebook}")
    if released.left_out:
        print(
            "left out of the release (not listed in lab.toml `files`; e.g. saved by a run of the source notebook): "
            + ", ".join(released.left_out)
        )
    return 0


def cmd_grade(args) -> int:
    from autograder.batch import grade_lab
    from autograder.course import find_course_dir
    from autograder.steps.record import summary_table

    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    course = find_course_dir(args.course_dir)
    result = grade_lab(course, args.lab, submissions=args.submissions, workers=args.workers, out=args.out,
                       force=args.force)  # fmt: skip
    print(summary_table(result.scores))
    print(f"graded now: {result.graded_now}; grades: {args.out or course.root / 'grades.csv'}")
    for s in result.failed:
        print(f"  {s.student}: {s.status}" + (f" ({_one_line(s.reason)})" if s.reason else ""))
    return 1 if result.failed else 0


def cmd_feedback(args) -> int:
    from autograder.course import find_course_dir
    from autograder.steps.feedback import write_feedback

    paths = write_feedback(find_course_dir(args.course_dir), args.lab)
    if not paths:
        raise ValueError(f"no graded submissions of {args.lab}: run `dscourse grade {args.lab}` first")
    print(f"wrote {len(paths)} feedback files under feedback/<student>/{args.lab}/")
    return 0


def cmd_check(args) -> int:
    from autograder.check import check_notebook

    if not args.notebook.is_file():
        raise FileNotFoundError(f"no notebook {args.notebook}")
    report = check_notebook(args.notebook)
    print(report.table())
    return 0


def cmd_progress(args) -> int:
    from autograder.lab import find_labs
    from autograder.progress import load_progress, progress_file, render_progress

    print(render_progress(find_labs(args.labs), load_progress()))
    print(f"(status file: {progress_file()})")
    return 0


def _one_line(e) -> str:
    text = str(e).strip() or type(e).__name__
    return " ".join(text.split())[:500]


if __name__ == "__main__":
    sys.exit(main())
