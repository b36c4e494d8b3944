"""Benchmark: importing N customers from .xlsx and from CSV end to end (the same service the
wizard and `import_customers` use), against the raw baselines on the same machine (reading
the same files with python-calamine and csv.reader).

    scripts/with-test-services.sh .venv/bin/python bench/import_bench.py --rows 100000

Uses the database named by DATABASE_URL (or TEST_DATABASE_URL, as `make test` sets it); it
migrates it and deletes the customers it imports. Each scenario runs in a child process so
its peak memory (max RSS) is its own. Writes bench/results/import.json and prints a markdown
table.
"""

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import setup_django  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"
CITIES = ["上海市", "北京市", "深圳市", "广州市", "杭州市", "成都市", "Shanghai", "Beijing"]
HEADER = ["客户名称", "手机", "邮箱", "省份", "城市", "公司", "生日", "标签", "备注"]


def _rows(count: int):
    for i in range(count):
        name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i // 7) % len(GIVEN)] + GIVEN[(i // 131) % len(GIVEN)]
        yield [
            name,
            f"13{(i * 7919) % 10**9:09d}",
            f"user{i}@example.com",
            "广东省",
            CITIES[i % len(CITIES)],
            f"公司{i % 5000}" if i % 3 else "",
            f"19{60 + i % 40}-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "展会" if i % 10 == 0 else "",
            "",
        ]


def generate(count: int, folder: Path) -> tuple[Path, Path]:
    import xlsxwriter

    folder.mkdir(parents=True, exist_ok=True)
    xlsx_path, csv_path = folder / f"customers-{count}.xlsx", folder / f"customers-{count}.csv"
    if not xlsx_path.exists():
        workbook = xlsxwriter.Workbook(str(xlsx_path), {"constant_memory": True})
        sheet = workbook.add_worksheet()
        sheet.write_row(0, 0, HEADER)
        for number, row in enumerate(_rows(count), start=1):
            sheet.write_row(number, 0, row)
        workbook.close()
    if not csv_path.exists():
        with open(csv_path, "w", newline="", encoding="utf-8-sig") as out:
            writer = csv.writer(out)
            writer.writerow(HEADER)
            writer.writerows(_rows(count))
    return xlsx_path, csv_path


def scenario(name: str, path: str) -> dict:
    """Runs in the child process."""
    started = time.perf_counter()
    if name == "calamine_read":
        import python_calamine

        with open(path, "rb") as handle:
            sheet = python_calamine.CalamineWorkbook.from_filelike(handle).get_sheet_by_index(0)
            rows = sum(1 for _row in sheet.iter_rows())
    elif name == "csv_read":
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = sum(1 for _row in csv.reader(handle))
    else:
        setup_django()
        from django.core.files import File

        from core.importing import import_run, job_prepare
        from core.models import ImportJob, User
        from customers.models import Customer

        user, _created = User.objects.get_or_create(username="bench", defaults={"is_superuser": True})
        Customer.objects.filter(created_by=user).delete()
        job = ImportJob(kind="customers", created_by=user, original_name=Path(path).name, default_owner=user)
        with open(path, "rb") as handle:
            job.file.save(Path(path).name, File(handle), save=False)
        job.save()
        started = time.perf_counter()
        job_prepare(job=job)
        job = import_run(job=job)
        rows = job.imported
        assert job.rejected == 0, list(job.issues.values_list("message", flat=True)[:5])
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"scenario": name, "rows": rows, "seconds": round(seconds, 2), "peak_mib": round(peak)}


def run_child(name: str, path: Path) -> dict:
    output = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, __file__, "--child", name, str(path)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(scenario(*args.child)))
        return
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    xlsx_path, csv_path = generate(args.rows, ROOT / "var" / "bench")
    results = [
        run_child("csv_read", csv_path),
        run_child("import_csv", csv_path),
        run_child("calamine_read", xlsx_path),
        run_child("import_xlsx", xlsx_path),
    ]
    by_name = {r["scenario"]: r for r in results}
    by_name["import_csv"]["ratio_to_raw_read"] = round(
        by_name["import_csv"]["seconds"] / max(by_name["csv_read"]["seconds"], 0.01), 1
    )
    by_name["import_xlsx"]["ratio_to_raw_read"] = round(
        by_name["import_xlsx"]["seconds"] / max(by_name["calamine_read"]["seconds"], 0.01), 1
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "import.json").write_text(json.dumps({"rows": args.rows, "results": results}, indent=2))
    print(f"| scenario ({args.rows} rows) | seconds | peak MiB | × raw read |")
    print("|---|---|---|---|")
    for r in results:
        print(f"| {r['scenario']} | {r['seconds']} | {r['peak_mib']} | {r.get('ratio_to_raw_read', '')} |")


if __name__ == "__main__":
    main()
