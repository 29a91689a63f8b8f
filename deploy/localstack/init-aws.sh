#!/bin/bash
# LocalStack ready hook (docker-compose.yml, profile `aws`): creates the bucket of
# FILESYSTEM=s3. Runs inside the LocalStack container once it serves requests; safe
# to run again. The SQS queues (JOB_TRANSPORT=sqs://...) are created by labcloud's
# kombu transport on first use, so nothing to do for them here.
set -euo pipefail

bucket="${S3_BUCKET:-labcloud}"
region="${S3_REGION:-us-east-1}"
# The account the APIs use too (AWS_ACCESS_KEY_ID=test): LocalStack keeps buckets per account.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"

if awslocal s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
    echo "labcloud: bucket s3://$bucket exists"
else
    awslocal s3 mb "s3://$bucket" --region "$region"
fi
