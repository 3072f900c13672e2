"""One form for every command-line error: ``hwrag: error: <cause>`` on the first line of stderr, exit 2
(docs/DESIGN.md § Conventions)."""
import pytest
from hwrag.cli import main
from ivfpq.errors import CommandParser, HwragError, run_command


def _first_stderr_line(capsys) -> str:
    return capsys.readouterr().err.splitlines()[0]


def test_a_bad_flag_names_the_command_and_the_cause_before_the_usage(capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", "service", "--modes", "remote"])
    assert e.value.code == 2
    assert _first_stderr_line(capsys) == ("hwrag: error: bench service: argument --modes: invalid choice: 'remote' "
                                          "(choose from 'process', 'local')")


def test_a_user_mistake_is_one_line_and_exit_2(capsys):
    assert main(["dataset", "info", "no-such-dataset:"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwrag: error: unknown dataset 'no-such-dataset:'") and "Traceback" not in err


def test_python_m_front_ends_speak_the_same_form(capsys):
    p = CommandParser(prog="python -m bench.service_bench")
    p.add_argument("--n", type=int)
    with pytest.raises(SystemExit):
        p.parse_args(["--n", "x"])
    assert _first_stderr_line(capsys) == "hwrag: error: argument --n: invalid int value: 'x'"

    def body():
        raise HwragError("--requests 0; accepted: >= 1")

    assert run_command(body) == 2
    assert _first_stderr_line(capsys) == "hwrag: error: --requests 0; accepted: >= 1"


def test_a_file_system_refusal_is_one_line_naming_the_file(capsys):
    def body():
        raise PermissionError(13, "Permission denied", "/srv/index")

    assert run_command(body) == 1
    assert capsys.readouterr().err == "hwrag: error: Permission denied: /srv/index\n"


def test_bench_out_is_checked_before_the_run(tmp_path, capsys):
    f = tmp_path / "a-file"
    f.write_text("")
    with pytest.raises(SystemExit) as e:
        main(["bench", "fidelity", "--out", str(f)])
    assert e.value.code == 2
    assert "--out takes a directory" in _first_stderr_line(capsys)


def test_a_closed_pipe_ends_the_command_quietly():
    """``hwrag ... | head``: the reader goes away; no traceback, from the command or the final flush."""
    import subprocess
    import sys

    code = ("import sys; from ivfpq.errors import run_command; "
            "sys.exit(run_command(lambda: [print('x' * 80) for _ in range(200000)]))")
    p = subprocess.run(f"{sys.executable} -c \"{code}\" | head -1", shell=True, capture_output=True, text=True,
                       timeout=60)
    assert p.stdout == "x" * 80 + "\n"
    assert p.stderr == ""


@pytest.mark.parametrize("argv, cause", [
    (["eval-ppl", "--mode", "token", "--knn-temperature", "0"], "temperature > 0"),
    (["datastore", "build", "--texts", "{d}", "--kind", "chunk", "--name", "t", "--chunk-words", "0"],
     "--chunk-words 0; accepted: 8 or more"),
    (["eval-ppl", "--mode", "none", "--texts", "{d}/missing"], "missing does not exist"),
    (["datastore", "build", "--texts", "{d}/missing", "--kind", "token", "--name", "t"], "missing does not exist"),
])
def test_ralm_commands_check_their_input_before_loading_a_model(tmp_path, capsys, monkeypatch, argv, cause):
    """Cheap checks first: no model is loaded (load_model would fail the test) before a bad flag or path."""
    import hwrag.ralm_commands as rc

    monkeypatch.setattr(rc, "load_model", lambda args: pytest.fail("loaded the model before checking input"))
    (tmp_path / "a.txt").write_text("a few words of text to read here and there, enough")
    assert main([a.replace("{d}", str(tmp_path)) for a in argv]) == 2
    assert cause in _first_stderr_line(capsys)
