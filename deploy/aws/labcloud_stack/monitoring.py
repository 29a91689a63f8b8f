"""Alarms, all sent to one SNS topic (and to `alarmEmail`, when given).

- a message in the job dead-letter queue (a job spec the worker API could not take);
- the job queue's oldest message older than 10 minutes (the worker API is not consuming);
- 5xx answers above 5 % of an API's requests over 5 minutes (at least 10 requests), and
  the load balancer's own 5xx (no healthy task);
- the oldest queued job older than `queuedAgeAlarmSeconds` (1 h): no worker takes it.
  labcloud knows this in its Prometheus gauge `labcloud_queue_oldest_age_seconds`; the
  worker API's `metrics-emf` sidecar prints it as CloudWatch Embedded Metric Format
  lines, which CloudWatch Logs turns into the metric `labcloud/labcloud_queue_oldest_
  age_seconds` (dimensions Stack, environment): no agent, no PutMetricData permission;
- PostgreSQL's free storage under 2 GB.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from labcloud_stack.config import StackConfig
from labcloud_stack.data import Data
from labcloud_stack.edge import Edge
from labcloud_stack.services import EMF_NAMESPACE

FIVE_MINUTES = Duration.minutes(5)
ENVIRONMENTS = ("local", "cloud", "any")


class Monitoring(Construct):
    def __init__(
        self, scope: Construct, cid: str, config: StackConfig, data: Data, edge: Edge
    ) -> None:
        super().__init__(scope, cid)
        self.topic = sns.Topic(self, "Alarms", display_name="labcloud alarms", enforce_ssl=True)
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self.alarms: list[cw.Alarm] = []

        self._alarm(
            "DeadLetters",
            data.jobs_dead.metric_approximate_number_of_messages_visible(
                period=FIVE_MINUTES, statistic="Maximum"
            ),
            1,
            "a job message is in the dead-letter queue",
        )
        self._alarm(
            "JobQueueStuck",
            data.jobs.metric_approximate_age_of_oldest_message(
                period=FIVE_MINUTES, statistic="Maximum"
            ),
            600,
            "job messages wait over 10 minutes: the worker API is not consuming",
        )
        for api, group in edge.target_groups.items():
            self._alarm(f"{api.title()}Api5xx", _error_rate(group), 5, f"the {api} API's 5xx > 5 %")
        self._alarm(
            "LoadBalancer5xx",
            edge.alb.metrics.http_code_elb(
                elbv2.HttpCodeElb.ELB_5XX_COUNT, period=FIVE_MINUTES, statistic="Sum"
            ),
            10,
            "the load balancer answered 5xx itself (no healthy task?)",
        )
        ages = {
            f"{env}": cw.Metric(
                namespace=EMF_NAMESPACE,
                metric_name="labcloud_queue_oldest_age_seconds",
                dimensions_map={"Stack": config.stack_name, "environment": env},
                period=FIVE_MINUTES,
                statistic="Maximum",
            )
            for env in ENVIRONMENTS
        }
        self._alarm(
            "QueuedJobAge",
            cw.MathExpression(
                expression=f"MAX([{', '.join(ages)}])",
                using_metrics=ages,
                period=FIVE_MINUTES,
                label="oldest queued job, seconds",
            ),
            config.queued_age_alarm_seconds,
            f"a job has waited over {config.queued_age_alarm_seconds} s for a worker",
        )
        self._alarm(
            "DatabaseStorageLow",
            data.database.metric_free_storage_space(period=FIVE_MINUTES, statistic="Minimum"),
            2 * 1024**3,
            "PostgreSQL has under 2 GB free",
            below=True,
        )

    def _alarm(
        self, cid: str, metric: cw.IMetric, threshold: float, why: str, *, below: bool = False
    ) -> None:
        alarm = cw.Alarm(
            self,
            cid,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD
            if below
            else cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=f"labcloud: {why}",
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        self.alarms.append(alarm)


def _error_rate(group: elbv2.ApplicationTargetGroup) -> cw.MathExpression:
    errors = group.metrics.http_code_target(
        elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=FIVE_MINUTES, statistic="Sum"
    )
    requests = group.metrics.request_count(period=FIVE_MINUTES, statistic="Sum")
    return cw.MathExpression(
        expression="IF(requests >= 10, 100 * FILL(errors, 0) / requests, 0)",
        using_metrics={"errors": errors, "requests": requests},
        period=FIVE_MINUTES,
        label="5xx, % of requests",
    )
