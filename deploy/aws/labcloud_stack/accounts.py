"""Accounts: a Cognito user pool, its app client and labcloud's groups.

The user API creates accounts in the pool (`POST /user` with AUTH=1: AdminCreateUser,
AdminAddUserToGroup, AdminSetUserPassword) and logs them in with USER_PASSWORD_AUTH;
both APIs verify the pool's ID tokens against its JWKS. The client has no secret, so
DECODE's browser frontend and its worker can use it as well.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

#: users: files and jobs; workers: workstation workers; cloud: cloud pollers' accounts;
#: tes: the GA4GH TES API (TES_GROUP); admin: administrators' endpoints.
GROUPS = ("users", "workers", "cloud", "tes", "admin")

# The user API's calls on the pool (its task role gets these, on this pool only).
ADMIN_ACTIONS = (
    "cognito-idp:AdminCreateUser",
    "cognito-idp:AdminAddUserToGroup",
    "cognito-idp:AdminSetUserPassword",
    "cognito-idp:AdminDeleteUser",
)


class Accounts(Construct):
    def __init__(self, scope: Construct, cid: str) -> None:
        super().__init__(scope, cid)
        self.pool = cognito.UserPool(
            self,
            "Pool",
            self_sign_up_enabled=False,  # accounts come through the user API
            # free-form user names (labcloud names people by email, workers by name)
            sign_in_aliases=cognito.SignInAliases(username=True),
            sign_in_case_sensitive=False,
            password_policy=cognito.PasswordPolicy(
                min_length=8,
                require_digits=True,
                require_lowercase=False,
                require_uppercase=False,
                require_symbols=False,
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,  # the lab's accounts outlive the stack
        )
        self.client = self.pool.add_client(
            "App",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_password=True, user_srp=True),
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
            prevent_user_existence_errors=True,
        )
        for name in GROUPS:
            cognito.CfnUserPoolGroup(
                self,
                f"Group{name.title()}",
                user_pool_id=self.pool.user_pool_id,
                group_name=name,
                description=f"labcloud: {name}",
            )
