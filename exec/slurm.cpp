#include "exec/slurm.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "util/process.h"

namespace asiarch::host::slurm {
namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// The value of `Key=` in scontrol's one-line output.
std::string field(const std::string& text, const std::string& key) {
  for (size_t at = 0; (at = text.find(key + "=", at)) != std::string::npos; ++at) {
    if (at > 0 && !std::isspace(static_cast<unsigned char>(text[at - 1]))) continue;
    const size_t from = at + key.size() + 1;
    const size_t to = text.find_first_of(" \n", from);
    return text.substr(from, to == std::string::npos ? std::string::npos : to - from);
  }
  return "";
}

}  // namespace

Fate fate_of(const std::string& state) {
  static const std::map<std::string, Fate> table = {
      {"PENDING", Fate::waiting},      {"CONFIGURING", Fate::waiting}, {"REQUEUED", Fate::waiting},
      {"REQUEUE_HOLD", Fate::waiting}, {"REQUEUE_FED", Fate::waiting}, {"RESV_DEL_HOLD", Fate::waiting},
      {"SUSPENDED", Fate::waiting},    {"STOPPED", Fate::waiting},     {"RESIZING", Fate::running},
      {"RUNNING", Fate::running},      {"COMPLETING", Fate::running},  {"SIGNALING", Fate::running},
      {"STAGE_OUT", Fate::running},    {"PREEMPTED", Fate::retry},     {"NODE_FAIL", Fate::retry},
      {"BOOT_FAIL", Fate::retry},      {"CANCELLED", Fate::retry},     {"COMPLETED", Fate::ended},
      {"FAILED", Fate::ended},         {"TIMEOUT", Fate::ended},       {"OUT_OF_MEMORY", Fate::ended},
      {"DEADLINE", Fate::ended},       {"SPECIAL_EXIT", Fate::ended},  {"REVOKED", Fate::ended},
      {"VANISHED", Fate::ended},       {"UNREACHABLE", Fate::waiting}};
  // scontrol can say "CANCELLED by 0"; squeue's %T is the bare name.
  const std::string name = state.substr(0, state.find(' '));
  auto it = table.find(name);
  return it == table.end() ? Fate::ended : it->second;
}

std::vector<std::string> sbatch_args(const Settings& s, const std::string& job_name, const std::string& output,
                                     int minutes, const std::string& script) {
  std::vector<std::string> a = {"sbatch", "--parsable", "--job-name=" + job_name, "--output=" + output,
                                "--time=" + (s.time_limit.empty() ? std::to_string(std::max(1, minutes)) : s.time_limit)};
  if (!s.partition.empty()) a.push_back("--partition=" + s.partition);
  if (!s.account.empty()) a.push_back("--account=" + s.account);
  if (!s.qos.empty()) a.push_back("--qos=" + s.qos);
  if (!s.gres.empty()) a.push_back("--gres=" + s.gres);
  if (s.cpus_per_task > 0) a.push_back("--cpus-per-task=" + std::to_string(s.cpus_per_task));
  if (!s.mem.empty()) a.push_back("--mem=" + s.mem);
  std::string exported;
  for (const char* v : kExportedAlways) exported += (exported.empty() ? "" : ",") + std::string(v);
  for (const auto& v : s.export_vars) exported += "," + v;
  a.push_back("--export=" + exported);
  a.insert(a.end(), s.extra_args.begin(), s.extra_args.end());
  a.push_back(script);
  return a;
}

std::string refusal(const Settings& s) {
  for (const auto& v : s.export_vars) {
    const bool name = !v.empty() && !std::isdigit(static_cast<unsigned char>(v[0])) &&
                      std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
    if (!name) return "slurm.export_vars: \"" + v.substr(0, 80) + "\" is not an environment variable's name";
    std::string upper = v;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    for (const char* secret : {"KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL"})
      if (upper.find(secret) != std::string::npos)
        return "slurm.export_vars: \"" + v + "\" looks like a secret; secrets never go to a cluster job";
  }
  for (const auto& a : s.extra_args)
    if (a.rfind("--export", 0) == 0 || a.rfind("--get-user-env", 0) == 0)
      return "slurm.extra_args: \"" + a.substr(0, 80) +
             "\" would widen the job's environment; name variables in slurm.export_vars instead";
  if (!(s.unreachable_seconds > 0)) return "slurm.unreachable_seconds: must be positive";
  return "";
}

Result<std::string> parse_parsable(const std::string& out) {
  const std::string line = trimmed(out.substr(0, out.find('\n')));
  const std::string id = line.substr(0, line.find(';'));
  if (id.empty() || !std::all_of(id.begin(), id.end(), ::isdigit))
    return make_error("sbatch printed no job id: \"" + trimmed(out).substr(0, 200) + "\"");
  return id;
}

std::map<std::string, JobState> parse_squeue(const std::string& out) {
  std::map<std::string, JobState> m;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    line = trimmed(line);
    const auto a = line.find('|'), b = line.find('|', a == std::string::npos ? a : a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    m[line.substr(0, a)] = {line.substr(a + 1, b - a - 1), line.substr(b + 1)};
  }
  return m;
}

std::optional<JobState> parse_scontrol(const std::string& out) {
  const std::string state = field(out, "JobState");
  if (state.empty()) return std::nullopt;
  return JobState{state, field(out, "Reason")};
}

Result<std::string> submit(const Settings& s, const std::string& job_name, const std::string& output, int minutes,
                           const std::string& script) {
  auto r = run_process(sbatch_args(s, job_name, output, minutes, script), 60);
  if (!r) return r.error();
  if (r->code != 0 || r->timed_out)
    return make_error("sbatch refused the job: " + trimmed(r->err.empty() ? r->out : r->err).substr(0, 500) +
                      (r->timed_out ? " (timed out)" : ""));
  return parse_parsable(r->out);
}

std::map<std::string, JobState> states(const std::vector<std::string>& ids) {
  std::map<std::string, JobState> m;
  if (ids.empty()) return m;
  std::string list;
  for (const auto& id : ids) list += (list.empty() ? "" : ",") + id;
  // Unknown ids make squeue fail as a whole: then each is asked of scontrol.
  if (auto r = run_process({"squeue", "-h", "-j", list, "-o", "%i|%T|%r"}, 60); r && r->code == 0)
    m = parse_squeue(r->out);
  for (const auto& id : ids) {
    if (m.count(id)) continue;
    auto r = run_process({"scontrol", "-o", "show", "job", id}, 60);
    std::optional<JobState> s;
    if (r && r->code == 0) s = parse_scontrol(r->out);
    if (s) {
      m[id] = *s;
    } else if (r && !r->timed_out && r->err.find("Invalid job id") != std::string::npos) {
      m[id] = JobState{kVanished, trimmed(r->err)};  // Slurm answered: it has no such job
    } else {
      // No answer: a controller restarting or overloaded is not a job gone.
      m[id] = JobState{kUnreachable, !r ? r.error().message : r->timed_out ? "scontrol timed out" : trimmed(r->err + r->out).substr(0, 300)};
    }
  }
  return m;
}

Status cancel(const std::string& id) {
  auto r = run_process({"scancel", id}, 60);
  if (!r) return r.error();
  if (r->code != 0) return make_error("scancel " + id + ": " + trimmed(r->err));
  return Ok{};
}

Status check_partition(const std::string& partition) {
  auto r = run_process({"scontrol", "-o", "show", "partition", partition}, 60);
  if (!r) return make_error("slurm: " + r.error().message + " (is Slurm installed on this host?)");
  if (r->code != 0 || r->out.find("PartitionName=") == std::string::npos)
    return make_error("slurm.partition: Slurm has no partition \"" + partition + "\" (" +
                      trimmed(r->err.empty() ? r->out : r->err) + ")");
  return Ok{};
}

}  // namespace asiarch::host::slurm
