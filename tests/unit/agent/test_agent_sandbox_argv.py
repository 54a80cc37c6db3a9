"""The sandbox command line, built without running anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from hangar.agent.runtimes.base import (
    BindMount,
    GpuBinding,
    ImageSpec,
    KernelSpec,
    ResourceLimits,
)
from hangar.agent.runtimes.sandbox import (
    HostTree,
    SandboxOptions,
    args_file_data,
    bwrap_args,
    gpu_device_args,
    group_text,
    kernel_args,
    limit_prefix,
    mask_paths,
    mirrored_dirs,
    new_parent_dirs,
    passwd_text,
    rlimit_args,
    root_args,
    sandbox_argv,
    sandbox_env,
    wrapper_args,
)

DATA = Path("/srv/hangar")
SPEC = KernelSpec("k1", DATA / "scratch" / "k1")
OPTIONS = SandboxOptions(seccomp_file=DATA / "agent" / "seccomp.bpf", hidden_paths=(DATA,))
EXISTING = {
    "/home",
    "/root",
    "/tmp",
    "/srv/hangar",
    "/srv/hangar/scratch",
    "/dev/nvidia1",
    "/dev/nvidiactl",
    "/dev/nvidia-uvm",
}


def exists(path: str) -> bool:
    return path in EXISTING


def pairs(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args) if arg == flag]


def test_documented_environment() -> None:
    env = sandbox_env(SPEC)
    assert env == {
        "TERM": "xterm",
        "LANG": "C.UTF-8",
        "SHELL": "/bin/bash",
        "USER": "work",
        "HOME": "/home/work",
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    }


def test_spec_and_run_env_add_but_cannot_move_home() -> None:
    spec = KernelSpec("k1", SPEC.scratch_dir, environ={"A": "spec", "LANG": "en_US.UTF-8"})
    env = sandbox_env(spec, {"A": "run", "HOME": "/root", "USER": "root"})
    assert (env["A"], env["LANG"], env["HOME"], env["USER"]) == (
        "run",
        "en_US.UTF-8",
        "/home/work",
        "work",
    )


def test_interpreter_prefix_goes_first_on_path() -> None:
    spec = KernelSpec("k1", SPEC.scratch_dir, image=ImageSpec(interpreter_prefix=Path("/opt/py")))
    assert sandbox_env(spec)["PATH"].startswith("/opt/py/bin:")


def test_gpu_environment_prefers_uuids() -> None:
    with_uuids = KernelSpec(
        "k1", SPEC.scratch_dir, gpus=(GpuBinding(2, "GPU-b"), GpuBinding(0, "GPU-a"))
    )
    assert sandbox_env(with_uuids)["CUDA_VISIBLE_DEVICES"] == "GPU-b,GPU-a"
    mixed = KernelSpec("k1", SPEC.scratch_dir, gpus=(GpuBinding(2, "GPU-b"), GpuBinding(0)))
    assert sandbox_env(mixed)["CUDA_VISIBLE_DEVICES"] == "2,0"
    assert "CUDA_VISIBLE_DEVICES" not in sandbox_env(SPEC)


def test_masks_cover_data_dir_and_skip_nested_or_missing() -> None:
    hidden = [DATA, DATA / "scratch", Path("/tmp/hangar-data"), Path("/nonexistent")]
    assert mask_paths(SPEC, hidden, exists) == ["/tmp", "/home", "/root", "/srv/hangar"]


def test_scratch_root_is_masked_even_when_not_configured() -> None:
    assert "/srv/hangar/scratch" in mask_paths(SPEC, (), exists)


def test_mount_order_root_then_masks_then_binds() -> None:
    spec = KernelSpec(
        "k1",
        SPEC.scratch_dir,
        mounts=(
            BindMount(Path("/srv/vf/b"), "data/sub", read_only=False),
            BindMount(Path("/srv/vf/a"), "data"),
        ),
    )
    args = bwrap_args(spec, OPTIONS, exists=exists, is_dir=lambda p: True)
    order = [
        args.index(x)
        for x in (
            "/",
            "/proc",
            "/srv/hangar",
            "/home/work",
            "/home/work/data",
            "/home/work/data/sub",
        )
    ]
    assert order == sorted(order)
    assert args[args.index("/home/work") - 2 : args.index("/home/work") + 1] == [
        "--bind",
        str(spec.scratch_dir),
        "/home/work",
    ]
    assert args[args.index("/home/work/data") - 2] == "--ro-bind"
    assert args[args.index("/home/work/data/sub") - 2] == "--bind"
    assert args[args.index("/tmp") - 3 : args.index("/tmp")] == ["--perms", "1777", "--tmpfs"]


def test_namespaces_and_seccomp() -> None:
    args = bwrap_args(SPEC, OPTIONS, exists=exists)
    for flag in ("--die-with-parent", "--unshare-pid", "--unshare-ipc"):
        assert flag in args
    assert "--unshare-net" not in args
    assert pairs(args, "--seccomp") == ["3"]
    networked = KernelSpec("k1", SPEC.scratch_dir, unshare_net=True)
    assert "--unshare-net" in bwrap_args(networked, OPTIONS, exists=exists)
    no_filter = SandboxOptions()
    assert "--seccomp" not in bwrap_args(SPEC, no_filter, exists=exists)


def test_privileged_mode_keeps_only_id_switching_caps_then_setpriv() -> None:
    args = bwrap_args(SPEC, OPTIONS, exists=exists)
    assert "--unshare-user" not in args
    assert pairs(args, "--cap-drop") == ["ALL"]
    assert set(pairs(args, "--cap-add")) == {
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_SETPCAP",
        "CAP_DAC_READ_SEARCH",
    }
    assert limit_prefix(SPEC, OPTIONS, rlimits=False) == [
        "/usr/bin/setpriv",
        "--reuid=1000",
        "--regid=1000",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
    ]


def test_user_namespace_mode_maps_the_work_user() -> None:
    options = SandboxOptions(privileged=False)
    spec = KernelSpec("k1", SPEC.scratch_dir, uid=1234, gid=2345)
    args = bwrap_args(spec, options, exists=exists)
    assert pairs(args, "--uid") == ["1234"] and pairs(args, "--gid") == ["2345"]
    assert "--unshare-user" in args and "--disable-userns" in args
    assert "--cap-add" not in args
    assert limit_prefix(spec, options, rlimits=False) == []


def test_rlimit_fallback_uses_prlimit() -> None:
    limits = ResourceLimits(cpu=1.5, memory_bytes=1 << 30, pids_max=64)
    assert rlimit_args(limits, "/usr/bin/prlimit") == [
        "/usr/bin/prlimit",
        f"--as={1 << 30}",
        "--nproc=64",
        "--",
    ]
    assert rlimit_args(ResourceLimits(cpu=2), "/usr/bin/prlimit") == []


def test_gpu_nodes_bound_only_for_allocated_present_devices() -> None:
    spec = KernelSpec(
        "k1",
        SPEC.scratch_dir,
        gpus=(
            GpuBinding(1, "GPU-1", "/dev/nvidia1"),
            GpuBinding(3, "GPU-3", "/dev/nvidia3"),
            GpuBinding(4, "FAKE-4", None),
        ),
    )
    assert gpu_device_args(spec, exists) == [
        "--dev-bind",
        "/dev/nvidia1",
        "/dev/nvidia1",
        "--dev-bind",
        "/dev/nvidiactl",
        "/dev/nvidiactl",
        "--dev-bind",
        "/dev/nvidia-uvm",
        "/dev/nvidia-uvm",
    ]
    assert gpu_device_args(SPEC, exists) == []


def test_wrapper_opens_seccomp_and_joins_cgroups() -> None:
    procs = [
        Path("/sys/fs/cgroup/memory/hangar/k1/cgroup.procs"),
        Path("/sys/fs/cgroup/pids/hangar/k1/cgroup.procs"),
    ]
    args = wrapper_args("/bin/sh", Path("/s/seccomp.bpf"), procs)
    assert args[:2] == ["/bin/sh", "-c"]
    assert args[3:] == ["hangar-sandbox", "/s/seccomp.bpf", "", "2", *map(str, procs)]
    assert wrapper_args("/bin/sh", None, []) == []
    assert wrapper_args("/bin/sh", None, procs)[4] == ""
    with_file = wrapper_args("/bin/sh", None, [], Path("/s/args/k1"))
    assert with_file[3:] == ["hangar-sandbox", "", "/s/args/k1", "0"]


def test_options_file_keeps_host_paths_out_of_bwraps_argv() -> None:
    argv = sandbox_argv(SPEC, OPTIONS, ["id"], args_file=Path("/s/args/k1"))
    bwrap_at = argv.index("/usr/bin/bwrap")
    assert argv[bwrap_at + 1 : argv.index("--", bwrap_at)] == [
        "--die-with-parent", "--args", "4", "--chdir", "/home/work", "--seccomp", "3"
    ]  # fmt: skip
    data = args_file_data(kernel_args(SPEC, OPTIONS))
    assert data.endswith(b"\0") and str(SPEC.scratch_dir).encode() + b"\0" in data
    assert data.split(b"\0")[:-1] == [a.encode() for a in kernel_args(SPEC, OPTIONS)]


def test_whole_command_order() -> None:
    argv = sandbox_argv(
        SPEC,
        OPTIONS,
        ["python3", "-c", "pass"],
        cwd="/home/work/src",
        join=[Path("/cg/cgroup.procs")],
        rlimits=True,
    )
    bwrap_at = argv.index("/usr/bin/bwrap")
    assert argv[0] == "/bin/sh" and bwrap_at == 8
    end = argv.index("--", bwrap_at)
    assert argv[argv.index("--chdir") + 1] == "/home/work/src"
    assert argv[end + 1] == "/usr/bin/setpriv"
    assert argv[-3:] == ["python3", "-c", "pass"]


@pytest.mark.parametrize("uid", [1000, 1001])
def test_passwd_names_the_work_user(uid: int) -> None:
    host = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n"
    text = passwd_text(host, uid, 1000)
    assert text.splitlines()[-1] == f"work:x:{uid}:1000:Hangar work user:/home/work:/bin/bash"
    assert ("alice" in text) == (uid != 1000)
    assert text.startswith("root:x:0:0")
    assert group_text("root:x:0:\nstaff:x:1000:\n", 1000) == "root:x:0:\nwork:x:1000:\n"


def test_binds_into_a_masked_dir_get_readable_parents() -> None:
    prefix = Path("/srv/hangar/images/py311")
    spec = KernelSpec("k1", SPEC.scratch_dir, image=ImageSpec(interpreter_prefix=prefix))
    args = bwrap_args(spec, OPTIONS, exists=exists, is_dir=lambda p: True)
    at = args.index(str(prefix))
    assert args[at - 5 : at + 2] == [
        "--perms",
        "0755",
        "--dir",
        "/srv/hangar/images",
        "--ro-bind",
        str(prefix),
        str(prefix),
    ]


class FakeTree(HostTree):
    ENTRIES = {"/": ["bin", "data0", "dev", "proc", "srv", "usr"], "/srv": ["hangar", "web"]}

    def listdir(self, path: str) -> list[str]:
        return self.ENTRIES[path]

    def readlink(self, path: str) -> str | None:
        return "usr/bin" if path == "/bin" else None


def test_absolute_targets_missing_on_the_host_get_a_rebuilt_root() -> None:
    spec = KernelSpec(
        "k1",
        SPEC.scratch_dir,
        mounts=(
            BindMount(Path("/srv/vf/a"), "/data/set"),
            BindMount(Path("/srv/vf/b"), "/srv/new/x", read_only=False),
            BindMount(Path("/srv/vf/c"), "/home/work/c"),  # inside a mask: no rebuild
        ),
    )

    def host_has(path: str) -> bool:
        return path in EXISTING or path == "/srv"

    masks = mask_paths(spec, OPTIONS.hidden_paths, host_has)
    mirrored = mirrored_dirs(spec, masks, host_has)
    assert mirrored == {"/", "/srv"}
    assert root_args(mirrored, FakeTree()) == [
        "--perms", "0755", "--tmpfs", "/",
        "--symlink", "usr/bin", "/bin",
        "--ro-bind-try", "/data0", "/data0",
        "--perms", "0755", "--dir", "/srv",
        "--ro-bind-try", "/srv/hangar", "/srv/hangar",
        "--ro-bind-try", "/srv/web", "/srv/web",
        "--ro-bind-try", "/usr", "/usr",
    ]  # fmt: skip
    assert new_parent_dirs(spec, mirrored, host_has) == ["/data", "/srv/new"]
    args = bwrap_args(spec, OPTIONS, exists=host_has, is_dir=lambda p: True)
    assert args[args.index("--tmpfs") + 1] == "/" and "--remount-ro" in args
    assert args[args.index("/data") - 3 : args.index("/data")] == ["--perms", "0755", "--dir"]
    assert args.index("/srv/new/x") < args.index("--remount-ro")
    plain = KernelSpec("k1", SPEC.scratch_dir, mounts=(BindMount(Path("/srv/vf/c"), "c"),))
    plain_args = bwrap_args(plain, OPTIONS, exists=exists)
    assert plain_args[plain_args.index("--ro-bind") : plain_args.index("--ro-bind") + 3] == [
        "--ro-bind", "/", "/",
    ]  # fmt: skip
    assert "--remount-ro" not in plain_args


def test_disable_userns_is_left_out_where_bwrap_lacks_it() -> None:
    spec = KernelSpec("k1", SPEC.scratch_dir)
    old_bwrap = SandboxOptions(privileged=False, disable_userns=False)
    assert "--disable-userns" not in bwrap_args(spec, old_bwrap, exists=exists)
    assert "--unshare-user" in bwrap_args(spec, old_bwrap, exists=exists)
