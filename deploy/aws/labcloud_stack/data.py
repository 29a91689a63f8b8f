"""Where state lives: PostgreSQL (RDS), the secrets, the S3 bucket, the SQS queues and
the EFS file system of the cloud runs.

- RDS PostgreSQL, one instance with a database per API (`labcloud_user`,
  `labcloud_worker`: the migrations task creates the second), encrypted, in isolated
  subnets, automated backups kept `backup_days` days (point-in-time restore), a final
  snapshot on deletion. The master credentials are a generated Secrets Manager secret
  (JSON; labcloud reads its `password` from the ARN in DATABASE_SECRET).
- The internal API key and the token secret: generated Secrets Manager secrets, handed
  to the services as ARNs (labcloud resolves them at start-up).
- S3: encrypted, all public access blocked, TLS only, owner-enforced; incomplete
  multipart uploads are aborted after 7 days; with `outputExpiryDays`, jobs' results
  (what the worker API writes: output/, log/, artifact/, tagged labcloud-kind=job-output)
  expire, the users' own uploads never.
- SQS: the job queue with its dead-letter queue (labcloud moves a message there itself
  after 5 failed receives, with the reason; SQS's redrive after 10 is the backstop for
  a consumer that dies on a message), encrypted, TLS only. In scaled mode, one queue
  per API's Celery app.
- EFS: encrypted; the pollers mount it through an access point rooted at `/labcloud`
  (job and session folders live below it); the tasks they start mount only their own
  folder by path.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from labcloud_stack.config import StackConfig
from labcloud_stack.network import POSTGRES_PORT, Network

DB_USER = "labcloud"
USER_DATABASE = "labcloud_user"
WORKER_DATABASE = "labcloud_worker"
RUNS_ROOT = "/labcloud"  # the access point's root: job and session folders
#: What the worker API tags jobs' results with (shared.storage.JOB_OUTPUT_TAGS).
OUTPUT_TAG = ("labcloud-kind", "job-output")


class Data(Construct):
    def __init__(self, scope: Construct, cid: str, config: StackConfig, network: Network) -> None:
        super().__init__(scope, cid)
        size = config.sizes
        self.database = rds.DatabaseInstance(
            self,
            "Postgres",
            engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_16_9),
            instance_type=ec2.InstanceType(size.db_instance),
            vpc=network.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[network.database],
            port=POSTGRES_PORT,
            credentials=rds.Credentials.from_generated_secret(DB_USER),
            database_name=USER_DATABASE,
            allocated_storage=size.db_storage_gb,
            max_allocated_storage=size.db_storage_gb * 5,
            storage_type=rds.StorageType.GP3,
            storage_encrypted=True,
            multi_az=size.db_multi_az,
            backup_retention=Duration.days(size.backup_days),
            preferred_backup_window="02:00-03:00",
            delete_automated_backups=False,
            deletion_protection=True,
            removal_policy=RemovalPolicy.SNAPSHOT,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            publicly_accessible=False,
        )
        assert self.database.secret is not None
        self.database_secret = self.database.secret

        self.internal_key = secretsmanager.Secret(
            self,
            "InternalApiKey",
            description="labcloud: the key the two APIs present to each other",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=48, exclude_punctuation=True
            ),
        )
        self.token_secret = secretsmanager.Secret(
            self,
            "TokenSecret",
            description="labcloud: HS256 key of local-account tokens",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
        )

        rules = [
            s3.LifecycleRule(
                id="abort-incomplete-uploads",
                abort_incomplete_multipart_upload_after=Duration.days(7),
            )
        ]
        if config.output_expiry_days:
            rules.append(
                s3.LifecycleRule(
                    id="expire-outputs",
                    tag_filters=dict([OUTPUT_TAG]),
                    expiration=Duration.days(config.output_expiry_days),
                )
            )
        origins = [f"https://{config.domain}"] + (
            [config.frontend_url] if config.frontend_url else []
        )
        self.bucket = s3.Bucket(
            self,
            "Files",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=rules,
            # Browsers upload and download through presigned URLs, from the web page.
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.GET, s3.HttpMethods.POST, s3.HttpMethods.HEAD],
                    allowed_origins=origins,
                    allowed_headers=["*"],
                    max_age=3000,
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,  # users' files outlive the stack
        )

        self.jobs_dead = self._queue("JobsDead", retention_days=14)
        self.jobs = self._queue("Jobs", retention_days=4, dead_letter=self.jobs_dead)
        self.celery: dict[str, sqs.Queue] = {}
        if config.scaled:
            for api in ("user", "worker"):
                dead = self._queue(f"Celery{api.title()}Dead", retention_days=14)
                self.celery[api] = self._queue(
                    f"Celery{api.title()}", retention_days=4, dead_letter=dead
                )

        self.file_system = efs.FileSystem(
            self,
            "Runs",
            vpc=network.vpc,
            vpc_subnets=network.private_subnets,
            security_group=network.efs,
            encrypted=True,
            performance_mode=efs.PerformanceMode.GENERAL_PURPOSE,
            throughput_mode=efs.ThroughputMode.ELASTIC,
            # labcloud's runners mount each job's folder by path (no access point: that
            # would pin every task to one root), so mounts are not IAM-authorised; only
            # the pollers' and jobs' security groups reach the mount targets.
            allow_anonymous_access=True,
            removal_policy=RemovalPolicy.DESTROY,  # scratch: outputs are uploaded to S3
        )
        self.access_point = self.file_system.add_access_point(
            "RunsRoot",
            path=RUNS_ROOT,
            create_acl=efs.Acl(owner_uid="0", owner_gid="0", permissions="755"),
            posix_user=efs.PosixUser(uid="0", gid="0"),
        )

    def _queue(
        self, cid: str, *, retention_days: int, dead_letter: sqs.Queue | None = None
    ) -> sqs.Queue:
        return sqs.Queue(
            self,
            cid,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(retention_days),
            visibility_timeout=Duration.seconds(60),  # kombu's; labcloud extends it
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=10, queue=dead_letter)
            if dead_letter
            else None,
        )
