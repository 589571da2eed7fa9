#!/usr/bin/env python3
"""A requirer of the `zookeeper` interface, written with ops, for zk-sim's tests.

As the leader it asks for a chroot and for the credentials in Juju secrets; when the
provider publishes `secret-user` it pins its own label on that secret (as the
data_interfaces requirer does) and afterwards reads it by that label, refreshing on
`secret-changed`. Its status says what it got: never the password itself.
"""

import json
import logging

import ops

logger = logging.getLogger(__name__)

ENDPOINT = "database"
REQUESTED = ["username", "password", "tls", "tls-ca", "uris"]


class RequirerCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        framework.observe(self.on[ENDPOINT].relation_created, self._on_created)
        framework.observe(self.on[ENDPOINT].relation_changed, self._on_changed)
        framework.observe(self.on.secret_changed, self._on_secret_changed)
        framework.observe(self.on.echo_action, self._on_echo)
        framework.observe(self.on.collect_unit_status, self._on_collect_status)

    @staticmethod
    def _label(relation: ops.Relation) -> str:
        return f"{ENDPOINT}.{relation.id}.user.secret"

    def _on_created(self, event: ops.RelationCreatedEvent):
        if self.unit.is_leader():
            event.relation.data[self.app].update(
                {
                    "database": str(self.config["chroot"]),
                    "requested-secrets": json.dumps(REQUESTED),
                }
            )

    def _on_changed(self, event: ops.RelationChangedEvent):
        uri = event.relation.data[event.relation.app].get("secret-user")
        if uri:
            # Pins this unit's label on the provider's secret (its first sight of it).
            self.model.get_secret(id=uri, label=self._label(event.relation))
            logger.info("credentials published on %s", self._label(event.relation))

    def _on_secret_changed(self, event: ops.SecretChangedEvent):
        if event.secret.label and event.secret.label.startswith(f"{ENDPOINT}."):
            event.secret.get_content(refresh=True)

    def _on_echo(self, event: ops.ActionEvent):
        event.log(f"echoing {event.params['text']}")
        if event.params["fail"]:
            event.fail(f"asked to fail on {event.params['text']}")
            return
        event.set_results({"echo": event.params["text"], "nested": {"unit": self.unit.name}})

    def _on_collect_status(self, event: ops.CollectStatusEvent):
        relation = self.model.get_relation(ENDPOINT)
        if relation is None:
            event.add_status(ops.BlockedStatus("needs a zookeeper relation"))
            return
        try:
            content = self.model.get_secret(label=self._label(relation)).get_content()
        except ops.SecretNotFoundError:
            event.add_status(ops.WaitingStatus("waiting for credentials"))
            return
        event.add_status(ops.ActiveStatus(f"{content['username']} on {content['uris']}"))


if __name__ == "__main__":
    ops.main(RequirerCharm)
