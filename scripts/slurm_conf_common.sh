# The slurm.conf lines scripts/slurm_box.sh and scripts/slurm_cluster.sh share
# (sourced by both): root daemons, one munge socket, no cgroups, no
# accounting, PMIx, requeue, a quick scheduler.
# slurm_conf_common MUNGE_SOCKET CRED_EXPIRE_SECONDS
slurm_conf_common() {
  cat <<CONF
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's restart (default 120 s).
AuthInfo=socket=$1,cred_expire=$2
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
SwitchType=switch/none
JobRequeue=1
# A node that comes back (slurmd restarted) rejoins by itself.
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
KillWait=5
InactiveLimit=0
MinJobAge=600
SlurmctldTimeout=30
SlurmctldDebug=info
SlurmdDebug=info
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
CONF
}
