"""`make install PREFIX=<temp>` installs libcairn (shared and static), the
headers, a pkg-config file and the programs; a program outside the tree
builds against it with pkg-config alone and runs. Needs no cluster."""
import os
import shutil
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HELLO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hello.c")


def run(argv, env=None, cwd=None):
    p = subprocess.run(argv, env=env, cwd=cwd, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, f"{' '.join(argv)}:\n{p.stdout}\n{p.stderr}"
    return p.stdout


def test_install_and_build_a_program_against_it(tmp_path):
    prefix = tmp_path / "prefix"
    run(["make", "--no-print-directory", "-C", ROOT, "install",
         f"PREFIX={prefix}"])
    for f in ("lib/libcairn.so", "lib/libcairn.a", "lib/pkgconfig/cairn.pc",
              "include/cairn/cairn.h", "include/cairn/err.h",
              "include/cairn/event.h", "include/cairn/conf.h",
              "bin/cairn", "bin/cairnd", "bin/cairn-timers",
              "bin/cairn-worker-demo"):
        assert (prefix / f).exists(), f
    # outside the tree: only the installed files and pkg-config
    src = tmp_path / "app" / "hello.c"
    src.parent.mkdir()
    shutil.copy(HELLO, src)
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
    flags = run(["pkg-config", "--cflags", "--libs", "cairn"], env=env).split()
    assert f"-I{prefix}/include" in flags and "-lcairn" in flags
    run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", "hello",
         "hello.c", *flags], env=env, cwd=src.parent)
    out = run([str(src.parent / "hello")],
              env=dict(env, LD_LIBRARY_PATH=str(prefix / "lib")))
    assert out.strip() == "hello: TIMEOUT, not found, retriable=1"
    # the static library, with its dependencies' shared libraries (their
    # --static closure needs -dev packages Debian does not pull in)
    deps = run(["pkg-config", "--libs", "rdkafka", "hiredis", "avro-c",
                "jansson", "libmicrohttpd"]).split()
    run(["cc", "-std=c11", "-o", "hello-static", "hello.c",
         f"-I{prefix}/include", str(prefix / "lib" / "libcairn.a"), *deps,
         "-lpthread", "-lm"], env=env, cwd=src.parent)
    out = run([str(src.parent / "hello-static")], env=env)
    assert out.strip() == "hello: TIMEOUT, not found, retriable=1"
    # the installed CLI runs
    assert "Exit status" in run([str(prefix / "bin" / "cairn"), "--help"])
